//! The JSON reader: a top-level array of objects, each object a row. Keys become the header
//! (every key of every object, in order of first appearance: a first pass over the file collects
//! them); a key an object lacks is an empty cell. Values must be scalars: strings are text,
//! numbers keep their text exactly as written (a SIRET stored as a number keeps its digits;
//! `52.01000000000001` is not rounded), `true`/`false` are booleans, `null` is empty. An object
//! or array as a value fails the import with its line and key.
//!
//! Memory: serde_json deserializes one array element at a time (a visitor over the array), so the
//! reader holds one object and the set of keys, whatever the file size.

use std::cell::{Cell as Shared, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::row::Cell;
use super::source::{Flow, RowSink};

/// Most distinct keys a file may use.
const MAX_KEYS: usize = 1_000;

/// One value of an object, as a cell will show it.
enum Value {
    Null,
    Bool(bool),
    /// A string's content, or a number's text.
    Text(String),
}

/// One array element: the line where it starts, and its keys and values in file order.
struct Object {
    line: u64,
    fields: Vec<(String, Value)>,
}

/// Streams the objects of the array in `path` to `sink`.
pub(crate) fn read(path: &Path, sink: &mut dyn RowSink) -> Result<(), String> {
    let size = std::fs::metadata(path)
        .map_err(|e| format!("cannot read the stored file: {e}"))?
        .len()
        .max(1);
    // First pass: the header.
    let mut keys: Vec<String> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let objects = each_object(path, |_, object| {
        for (key, _) in &object.fields {
            if !index.contains_key(key) {
                if keys.len() == MAX_KEYS {
                    return Err(format!(
                        "the JSON objects use more than {MAX_KEYS} distinct keys"
                    ));
                }
                index.insert(key.clone(), keys.len());
                keys.push(key.clone());
            }
        }
        Ok(Flow::Continue)
    })?;
    if objects == 0 {
        return Err("the JSON array holds no objects".into());
    }
    if sink.header(1, keys.clone())? == Flow::Stop {
        return Ok(());
    }
    // Second pass: the rows.
    each_object(path, |read, object| {
        let mut cells = vec![Cell::Empty; keys.len()];
        for (key, value) in &object.fields {
            let at = *index
                .get(key)
                .ok_or("the stored file changed while it was read")?;
            cells[at] = match value {
                Value::Null => Cell::Empty,
                Value::Bool(b) => Cell::Bool(*b),
                Value::Text(t) if t.is_empty() => Cell::Empty,
                Value::Text(t) => Cell::Text(t),
            };
        }
        if cells.iter().all(Cell::is_empty) {
            return Ok(Flow::Continue);
        }
        let progress = (read as f64 / size as f64).min(1.0);
        sink.row(object.line, &cells, progress)
    })?;
    Ok(())
}

/// Where the reader is, shared with the element visitor: serde_json reads its input one byte
/// at a time, so the line count when an element starts is the element's first line.
#[derive(Default)]
struct Position {
    /// Current line (1-based).
    line: Shared<u64>,
    /// Bytes consumed.
    bytes: Shared<u64>,
}

/// A reader that keeps a [`Position`] up to date.
struct Tracked<'p, R> {
    inner: R,
    position: &'p Position,
}

impl<R: Read> Read for Tracked<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let p = self.position;
        p.bytes.set(p.bytes.get() + n as u64);
        p.line.set(p.line.get() + newlines(&buf[..n]));
        Ok(n)
    }
}

/// Calls `each(bytes read, object)` for every element of the array; returns how many there were.
/// Stops quietly when `each` says [`Flow::Stop`]; its error fails the read.
fn each_object(
    path: &Path,
    each: impl FnMut(u64, Object) -> Result<Flow, String>,
) -> Result<u64, String> {
    let io = |e: std::io::Error| format!("cannot read the stored file: {e}");
    let file = File::open(path).map_err(io)?;
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    // A UTF-8 byte order mark is allowed before the array.
    let mut start = [0u8; 3];
    let n = read_up_to(&mut reader, &mut start).map_err(io)?;
    let head: &[u8] = if start[..n] == [0xEF, 0xBB, 0xBF] {
        &[]
    } else {
        &start[..n]
    };
    let position = Position::default();
    position.line.set(1);
    position.bytes.set((n - head.len()) as u64);
    let input = Tracked {
        inner: head.chain(reader),
        position: &position,
    };
    let outcome = Outcome::default();
    let mut de = serde_json::Deserializer::from_reader(input);
    let result = ArraySeed {
        position: &position,
        each: RefCell::new(each),
        outcome: &outcome,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end());
    match result {
        Ok(()) => Ok(outcome.objects.get()),
        Err(_) if outcome.stopped.get() => Ok(outcome.objects.get()),
        Err(_) if outcome.failure.borrow().is_some() => {
            Err(outcome.failure.take().unwrap_or_default())
        }
        Err(e) => Err(format!("the JSON file cannot be read: {e}")),
    }
}

fn newlines(bytes: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', bytes).count() as u64
}

fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = reader.read(&mut buf[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

/// How the walk over the array ended, besides serde's own errors.
#[derive(Default)]
struct Outcome {
    objects: Shared<u64>,
    stopped: Shared<bool>,
    failure: RefCell<Option<String>>,
}

struct ArraySeed<'a, F> {
    position: &'a Position,
    each: RefCell<F>,
    outcome: &'a Outcome,
}

impl<'de, F: FnMut(u64, Object) -> Result<Flow, String>> DeserializeSeed<'de> for ArraySeed<'_, F> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(u64, Object) -> Result<Flow, String>> Visitor<'de> for ArraySeed<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of objects (one object a row)")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut each = self.each.borrow_mut();
        while let Some(object) = seq.next_element_seed(ObjectSeed {
            position: self.position,
        })? {
            self.outcome.objects.set(self.outcome.objects.get() + 1);
            match (each)(self.position.bytes.get(), object) {
                Ok(Flow::Continue) => {}
                Ok(Flow::Stop) => {
                    self.outcome.stopped.set(true);
                    return Err(de::Error::custom("stopped"));
                }
                Err(message) => {
                    *self.outcome.failure.borrow_mut() = Some(message);
                    return Err(de::Error::custom("failed"));
                }
            }
        }
        Ok(())
    }
}

struct ObjectSeed<'a> {
    position: &'a Position,
}

impl<'de> DeserializeSeed<'de> for ObjectSeed<'_> {
    type Value = Object;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Object, D::Error> {
        // serde_json has read up to the element's first byte: this is its line.
        d.deserialize_map(ObjectVisitor {
            line: self.position.line.get(),
        })
    }
}

struct ObjectVisitor {
    line: u64,
}

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = Object;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object (one row: its keys are the columns)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Object, A::Error> {
        let mut fields: Vec<(String, Value)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let raw: Box<RawValue> = map.next_value()?;
            let value = scalar(&raw).map_err(|what| {
                de::Error::custom(format!(
                    "key `{key}` holds {what}: a cell must be text, a number, true, false or null"
                ))
            })?;
            if fields.iter().any(|(k, _)| *k == key) {
                return Err(de::Error::custom(format!(
                    "key `{key}` appears twice in one object"
                )));
            }
            fields.push((key, value));
        }
        Ok(Object {
            line: self.line,
            fields,
        })
    }
}

/// A raw JSON value as a cell value; nested values are refused (named in the error).
fn scalar(raw: &RawValue) -> Result<Value, &'static str> {
    let text = raw.get().trim();
    match text.as_bytes().first() {
        Some(b'{') => Err("an object"),
        Some(b'[') => Err("an array"),
        Some(b'"') => serde_json::from_str::<String>(text)
            .map(Value::Text)
            .map_err(|_| "an invalid string"),
        Some(b't') => Ok(Value::Bool(true)),
        Some(b'f') => Ok(Value::Bool(false)),
        Some(b'n') | None => Ok(Value::Null),
        Some(_) => Ok(Value::Text(text.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Collect {
        header: Vec<String>,
        rows: Vec<(u64, Vec<String>)>,
    }

    impl RowSink for Collect {
        fn header(&mut self, _row: u64, headers: Vec<String>) -> Result<Flow, String> {
            self.header = headers;
            Ok(Flow::Continue)
        }

        fn row(&mut self, row: u64, cells: &[Cell<'_>], _progress: f64) -> Result<Flow, String> {
            let cells = cells
                .iter()
                .map(|c| match c {
                    Cell::Empty => "∅".to_owned(),
                    Cell::Bool(b) => format!("bool:{b}"),
                    c => c.text().unwrap_or_default().into_owned(),
                })
                .collect();
            self.rows.push((row, cells));
            Ok(Flow::Continue)
        }
    }

    fn read_text(text: &[u8]) -> Result<Collect, String> {
        let dir = std::env::temp_dir().join(format!("relais-json-{}", uuid::Uuid::now_v7()));
        std::fs::write(&dir, text).unwrap();
        let mut sink = Collect::default();
        let result = read(&dir, &mut sink);
        std::fs::remove_file(&dir).unwrap();
        result.map(|()| sink)
    }

    #[test]
    fn keys_in_any_order_become_one_header_and_numbers_keep_their_text() {
        let text = "\u{feff}[\n  {\"SIRET\": 18080251400067, \"Nom\": \"Ardennes \\\"08\\\"\", \"SVE\": 52.01000000000001},\n  {\"Nom\": \"B\", \"SIRET\": \"00638004200033\", \"Actif\": true},\n  {},\n  {\"SVE\": 1e3, \"Nom\": null, \"Extra\": \"\"}\n]\n";
        let c = read_text(text.as_bytes()).unwrap();
        assert_eq!(c.header, ["SIRET", "Nom", "SVE", "Actif", "Extra"]);
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            c.rows,
            vec![
                (
                    2,
                    s(&[
                        "18080251400067",
                        "Ardennes \"08\"",
                        "52.01000000000001",
                        "∅",
                        "∅"
                    ])
                ),
                (3, s(&["00638004200033", "B", "∅", "bool:true", "∅"])),
                (5, s(&["∅", "∅", "1e3", "∅", "∅"])),
            ]
        );
    }

    #[test]
    fn nested_values_and_other_shapes_are_refused_clearly() {
        let err = read_text(b"[{\"a\": 1}, {\"a\": {\"b\": 2}}]")
            .err()
            .unwrap();
        assert!(err.contains("key `a` holds an object"), "{err}");
        assert!(err.contains("line 1"), "{err}");
        let err = read_text(b"[{\"a\": [1, 2]}]").err().unwrap();
        assert!(err.contains("key `a` holds an array"), "{err}");
        let err = read_text(b"{\"a\": 1}").err().unwrap();
        assert!(err.contains("expected an array of objects"), "{err}");
        let err = read_text(b"[1, 2]").err().unwrap();
        assert!(err.contains("expected an object"), "{err}");
        let err = read_text(b"[{\"a\": 1, \"a\": 2}]").err().unwrap();
        assert!(err.contains("appears twice"), "{err}");
        let err = read_text(b"[{\"a\": 1}] x").err().unwrap();
        assert!(err.contains("trailing characters"), "{err}");
        let err = read_text(b"[]").err().unwrap();
        assert_eq!(err, "the JSON array holds no objects");
        let err = read_text(b"[{\"a\": 1},").err().unwrap();
        assert!(err.contains("EOF"), "{err}");
    }
}
