//! Where each key of a YAML file is: a map from key path (`sinks.lake.url`) to line/column,
//! built from the parser's marked events so every diagnostic can point into the file.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// A 1-based line and column in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
}

enum Frame {
    Map {
        path: Vec<String>,
        key: Option<String>,
    },
    Seq {
        path: Vec<String>,
        idx: usize,
    },
}

#[derive(Default)]
struct Collector {
    stack: Vec<Frame>,
    positions: HashMap<String, Pos>,
}

fn pos(mark: Marker) -> Pos {
    Pos {
        line: mark.line(),
        col: mark.col() + 1,
    }
}

impl Collector {
    /// Registers a node starting at `mark`; returns its path when it is a value (not a key).
    fn node(&mut self, mark: Marker, scalar: Option<&str>) -> Option<Vec<String>> {
        match self.stack.last_mut() {
            None => Some(Vec::new()),
            Some(Frame::Map { path, key }) => match key.take() {
                None => {
                    // This node is a key.
                    let k = scalar.unwrap_or("").to_string();
                    let mut p = path.clone();
                    p.push(k.clone());
                    self.positions.entry(p.join(".")).or_insert(pos(mark));
                    *key = Some(k);
                    None
                }
                Some(k) => {
                    let mut p = path.clone();
                    p.push(k);
                    Some(p)
                }
            },
            Some(Frame::Seq { path, idx }) => {
                let mut p = path.clone();
                p.push(idx.to_string());
                *idx += 1;
                self.positions.entry(p.join(".")).or_insert(pos(mark));
                Some(p)
            }
        }
    }
}

impl MarkedEventReceiver for Collector {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(v, ..) => {
                self.node(mark, Some(&v));
            }
            Event::Alias(_) => {
                self.node(mark, None);
            }
            Event::MappingStart(..) => {
                // A mapping used as a key is not addressable; give it an unreachable path.
                let path = self
                    .node(mark, None)
                    .unwrap_or_else(|| vec!["\u{0}".to_string()]);
                self.stack.push(Frame::Map { path, key: None });
            }
            Event::SequenceStart(..) => {
                let path = self
                    .node(mark, None)
                    .unwrap_or_else(|| vec!["\u{0}".to_string()]);
                self.stack.push(Frame::Seq { path, idx: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

/// Key positions of one YAML document.
#[derive(Debug, Default, Clone)]
pub struct Positions {
    map: HashMap<String, Pos>,
}

/// A YAML syntax error with its position.
#[derive(Debug, Clone)]
pub struct SyntaxError {
    /// Where.
    pub pos: Pos,
    /// What the parser said.
    pub message: String,
}

impl Positions {
    /// Parses `src` and records where every key and sequence item is.
    ///
    /// # Errors
    /// The YAML syntax error, with its position.
    pub fn parse(src: &str) -> Result<Positions, SyntaxError> {
        let mut c = Collector::default();
        let mut parser = Parser::new_from_str(src);
        parser.load(&mut c, false).map_err(|e| SyntaxError {
            pos: Pos {
                line: e.marker().line(),
                col: e.marker().col() + 1,
            },
            message: e.info().to_string(),
        })?;
        Ok(Positions { map: c.positions })
    }

    /// The position of a key path, or of its closest ancestor that has one.
    pub fn find(&self, path: &[String]) -> Option<Pos> {
        let mut p = path.to_vec();
        loop {
            if let Some(pos) = self.map.get(&p.join(".")) {
                return Some(*pos);
            }
            p.pop()?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(s: &str) -> Vec<String> {
        s.split('.').map(str::to_string).collect()
    }

    #[test]
    fn finds_nested_keys_and_items() {
        let src = "name: x\nsinks:\n  lake:\n    type: parquet\n    inputs: [a, b]\n    partition_by:\n      - startTime:day\n";
        let p = Positions::parse(src).unwrap();
        assert_eq!(p.find(&path("name")), Some(Pos { line: 1, col: 1 }));
        assert_eq!(
            p.find(&path("sinks.lake.type")),
            Some(Pos { line: 4, col: 5 })
        );
        assert_eq!(
            p.find(&path("sinks.lake.inputs.1")),
            Some(Pos { line: 5, col: 17 })
        );
        assert_eq!(
            p.find(&path("sinks.lake.partition_by.0")),
            Some(Pos { line: 7, col: 9 })
        );
        // Unknown child falls back to its parent.
        assert_eq!(
            p.find(&path("sinks.lake.nope")),
            Some(Pos { line: 3, col: 3 })
        );
    }

    #[test]
    fn syntax_error_has_a_position() {
        let e = Positions::parse("a: [1, 2\nb: c\n").unwrap_err();
        assert!(e.pos.line >= 1);
        assert!(!e.message.is_empty());
    }
}
