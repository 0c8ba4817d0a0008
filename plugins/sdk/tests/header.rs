//! The C header stays in step with the Rust definitions: a C program compiled with the
//! system compiler prints every size and offset, and they must equal Rust's.

use std::mem::{offset_of, size_of};
use std::process::Command;

use tributary_plugin_sdk::abi::v1::{
    ABI_VERSION, KIND_SINK, KIND_TRANSFORM, TributaryBuffer, TributaryPluginV1,
};

#[test]
fn c_header_matches_rust_layout() {
    let dir = tempfile::tempdir().unwrap();
    let include = concat!(env!("CARGO_MANIFEST_DIR"), "/include");
    let src = dir.path().join("layout.c");
    let fields = [
        "abi_version",
        "descriptor_size",
        "kind",
        "reserved",
        "name",
        "version",
        "config_schema",
        "create",
        "healthcheck",
        "write",
        "process",
        "flush",
        "close",
        "destroy",
        "free_buffer",
    ];
    let mut c = String::from(
        "#include <stdio.h>\n#include <stddef.h>\n#include \"tributary_plugin.h\"\nint main(void) {\n",
    );
    c.push_str("printf(\"size %zu\\n\", sizeof(TributaryPluginV1));\n");
    c.push_str("printf(\"buffer %zu %zu %zu %zu\\n\", sizeof(TributaryBuffer), offsetof(TributaryBuffer, ptr), offsetof(TributaryBuffer, len), offsetof(TributaryBuffer, cap));\n");
    c.push_str("printf(\"consts %u %u %u\\n\", TRIBUTARY_ABI_VERSION, TRIBUTARY_KIND_SINK, TRIBUTARY_KIND_TRANSFORM);\n");
    for f in fields {
        c.push_str(&format!(
            "printf(\"{f} %zu\\n\", offsetof(TributaryPluginV1, {f}));\n"
        ));
    }
    c.push_str("return 0; }\n");
    std::fs::write(&src, c).unwrap();
    let exe = dir.path().join("layout");
    let status = Command::new("cc")
        .arg("-I")
        .arg(include)
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .status()
        .expect("a C compiler (cc) is needed");
    assert!(status.success());
    let out = String::from_utf8(Command::new(&exe).output().unwrap().stdout).unwrap();

    let rust_offsets = [
        offset_of!(TributaryPluginV1, abi_version),
        offset_of!(TributaryPluginV1, descriptor_size),
        offset_of!(TributaryPluginV1, kind),
        offset_of!(TributaryPluginV1, reserved),
        offset_of!(TributaryPluginV1, name),
        offset_of!(TributaryPluginV1, version),
        offset_of!(TributaryPluginV1, config_schema),
        offset_of!(TributaryPluginV1, create),
        offset_of!(TributaryPluginV1, healthcheck),
        offset_of!(TributaryPluginV1, write),
        offset_of!(TributaryPluginV1, process),
        offset_of!(TributaryPluginV1, flush),
        offset_of!(TributaryPluginV1, close),
        offset_of!(TributaryPluginV1, destroy),
        offset_of!(TributaryPluginV1, free_buffer),
    ];
    let mut expected = format!("size {}\n", size_of::<TributaryPluginV1>());
    expected.push_str(&format!(
        "buffer {} {} {} {}\n",
        size_of::<TributaryBuffer>(),
        offset_of!(TributaryBuffer, ptr),
        offset_of!(TributaryBuffer, len),
        offset_of!(TributaryBuffer, cap)
    ));
    expected.push_str(&format!(
        "consts {ABI_VERSION} {KIND_SINK} {KIND_TRANSFORM}\n"
    ));
    for (f, o) in fields.iter().zip(rust_offsets) {
        expected.push_str(&format!("{f} {o}\n"));
    }
    assert_eq!(
        out, expected,
        "include/tributary_plugin.h and src/abi/v1.rs disagree"
    );
}
