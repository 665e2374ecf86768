//! PostgreSQL's binary `COPY` format, for bulk writes and reads.
//!
//! - Writes into a table (`COPY … FROM STDIN`): rows encoded here into one buffer and sent in
//!   one statement ([`CopyRows`], [`copy_in`]). The server neither parses text nor plans an
//!   insert per batch, and the driver binds no parameter (a full build's writer spent most of
//!   its time binding arrays for `INSERT … SELECT FROM UNNEST`).
//! - Reads of a whole query (`COPY (SELECT …) TO STDOUT`): tuples split into fields here and
//!   decoded only as the caller asks ([`copy_out`], [`CopyOut`], [`CopyRow::try_get`]), where
//!   the driver builds a row object and decodes through a type check per value.
//!
//! The format (PostgreSQL's `COPY` reference, "Binary Format"): a signature, flags and header
//! extension; then per row the number of fields (16 bits) and per field its length (32 bits,
//! -1 for NULL) and its bytes in the type's binary form (big-endian integers, a date as days
//! since 2000-01-01); then -1 as the trailer.

use chrono::NaiveDate;
use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;
use sqlx::PgConnection;

use super::StoreError;

/// The format's signature, flags (none) and header extension length (0).
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// Days from 0001-01-01 (day 1 of chrono's count) to 2000-01-01, PostgreSQL's date epoch.
const PG_EPOCH_DAYS: i32 = 730_120;

/// Rows in the binary `COPY` format, ready for [`copy_in`].
pub struct CopyRows {
    buf: Vec<u8>,
    rows: u64,
}

impl Default for CopyRows {
    fn default() -> Self {
        Self::new()
    }
}

impl CopyRows {
    /// No rows yet.
    pub fn new() -> Self {
        CopyRows {
            buf: HEADER.to_vec(),
            rows: 0,
        }
    }

    /// Starts a row of `fields` fields: exactly that many [`CopyRows::field`] calls follow, in
    /// the order of the statement's columns.
    pub fn row(&mut self, fields: u16) -> &mut Self {
        self.buf.extend_from_slice(&fields.to_be_bytes());
        self.rows += 1;
        self
    }

    /// Appends a field.
    pub fn field(&mut self, value: impl CopyValue) -> &mut Self {
        value.encode(&mut self.buf);
        self
    }

    /// Rows appended.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    fn into_bytes(mut self) -> Vec<u8> {
        self.buf.extend_from_slice(&(-1_i16).to_be_bytes());
        self.buf
    }
}

/// A value in the binary `COPY` format of its column's type.
pub trait CopyValue {
    /// Appends the field (length, then bytes).
    fn encode(self, buf: &mut Vec<u8>);
}

fn bytes(buf: &mut Vec<u8>, value: &[u8]) {
    let len = i32::try_from(value.len()).unwrap_or(i32::MAX);
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(value);
}

impl CopyValue for &str {
    fn encode(self, buf: &mut Vec<u8>) {
        bytes(buf, self.as_bytes());
    }
}

impl CopyValue for i64 {
    fn encode(self, buf: &mut Vec<u8>) {
        bytes(buf, &self.to_be_bytes());
    }
}

impl CopyValue for i32 {
    fn encode(self, buf: &mut Vec<u8>) {
        bytes(buf, &self.to_be_bytes());
    }
}

impl CopyValue for bool {
    fn encode(self, buf: &mut Vec<u8>) {
        bytes(buf, &[u8::from(self)]);
    }
}

impl CopyValue for NaiveDate {
    fn encode(self, buf: &mut Vec<u8>) {
        use chrono::Datelike as _;
        (self.num_days_from_ce() - PG_EPOCH_DAYS).encode(buf);
    }
}

impl<T: CopyValue> CopyValue for Option<T> {
    fn encode(self, buf: &mut Vec<u8>) {
        match self {
            Some(v) => v.encode(buf),
            None => buf.extend_from_slice(&(-1_i32).to_be_bytes()),
        }
    }
}

/// Writes `rows` into `table (columns)` with one `COPY … FROM STDIN` on the caller's
/// connection (in its transaction, if any); returns the rows written.
pub async fn copy_in(
    conn: &mut PgConnection,
    table: &str,
    columns: &str,
    rows: CopyRows,
) -> Result<u64, StoreError> {
    if rows.rows == 0 {
        return Ok(0);
    }
    let statement = format!("COPY {table} ({columns}) FROM STDIN (FORMAT binary)");
    let mut copy = conn.copy_in_raw(&statement).await?;
    if let Err(e) = copy.send(rows.into_bytes()).await {
        let _ = copy.abort("the rows could not be sent").await;
        return Err(e.into());
    }
    Ok(copy.finish().await?)
}

/// A malformed `COPY` stream or field (a bug, or a column of another type than the caller's).
fn malformed(what: impl std::fmt::Display) -> StoreError {
    StoreError::Database(sqlx::Error::Protocol(format!("binary COPY data: {what}")))
}

/// A field's Rust type when read from the binary `COPY` format of its column's type.
pub trait CopyField: Sized {
    /// Decodes the field's bytes (`None`: NULL).
    fn decode(bytes: Option<&[u8]>) -> Result<Self, StoreError>;
}

fn fixed<const N: usize>(bytes: Option<&[u8]>) -> Result<[u8; N], StoreError> {
    let bytes = bytes.ok_or_else(|| malformed("NULL in a field read as not null"))?;
    bytes
        .try_into()
        .map_err(|_| malformed(format!("{} bytes for a {N}-byte value", bytes.len())))
}

impl CopyField for String {
    fn decode(bytes: Option<&[u8]>) -> Result<Self, StoreError> {
        let bytes = bytes.ok_or_else(|| malformed("NULL in a field read as not null"))?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|e| malformed(format!("text: {e}")))
    }
}

impl CopyField for i64 {
    fn decode(bytes: Option<&[u8]>) -> Result<Self, StoreError> {
        Ok(i64::from_be_bytes(fixed(bytes)?))
    }
}

impl CopyField for i32 {
    fn decode(bytes: Option<&[u8]>) -> Result<Self, StoreError> {
        Ok(i32::from_be_bytes(fixed(bytes)?))
    }
}

impl CopyField for bool {
    fn decode(bytes: Option<&[u8]>) -> Result<Self, StoreError> {
        Ok(fixed::<1>(bytes)?[0] != 0)
    }
}

impl CopyField for NaiveDate {
    fn decode(bytes: Option<&[u8]>) -> Result<Self, StoreError> {
        let days = i32::from_be_bytes(fixed(bytes)?);
        days.checked_add(PG_EPOCH_DAYS)
            .and_then(NaiveDate::from_num_days_from_ce_opt)
            .ok_or_else(|| malformed(format!("date {days} days from 2000-01-01")))
    }
}

impl<T: CopyField> CopyField for Option<T> {
    fn decode(bytes: Option<&[u8]>) -> Result<Self, StoreError> {
        bytes.map(|b| T::decode(Some(b))).transpose()
    }
}

/// A field's position in a [`CopyRow`] (`usize` only: an integer literal takes that type).
pub trait CopyIndex {
    /// The 0-based position.
    fn position(self) -> usize;
}

impl CopyIndex for usize {
    fn position(self) -> usize {
        self
    }
}

/// One tuple of a [`CopyOut`]: its fields, decoded on demand.
pub struct CopyRow<'a> {
    data: &'a [u8],
    /// Each field's offset in `data` and length (-1: NULL).
    fields: &'a [(usize, i32)],
}

impl CopyRow<'_> {
    /// The field at `index` (0-based, in the query's column order) as a `T` (the second type
    /// parameter, always `usize`, lets decoding written for the driver's rows read these too).
    pub fn try_get<T: CopyField, I: CopyIndex>(&self, index: I) -> Result<T, StoreError> {
        let index = index.position();
        let &(at, len) = self
            .fields
            .get(index)
            .ok_or_else(|| malformed(format!("no field {index} in a row")))?;
        T::decode(
            usize::try_from(len)
                .ok()
                .map(|len| &self.data[at..at + len]),
        )
    }
}

/// The tuples of a `COPY … TO STDOUT (FORMAT binary)`, in order ([`copy_out`]). Read it to the
/// end: a connection dropped mid-stream discards the rest the next time it is used.
pub struct CopyOut<'c> {
    stream: BoxStream<'c, Result<bytes::Bytes, sqlx::Error>>,
    /// Data received and not yet parsed starts at `at`.
    buf: Vec<u8>,
    at: usize,
    /// Field offsets of the latest tuple (reused).
    fields: Vec<(usize, i32)>,
    header: bool,
    ended: bool,
}

/// Starts `COPY ({query}) TO STDOUT (FORMAT binary)` on the caller's connection.
pub async fn copy_out<'c>(
    conn: &'c mut PgConnection,
    query: &str,
) -> Result<CopyOut<'c>, StoreError> {
    let statement = format!("COPY ({query}) TO STDOUT (FORMAT binary)");
    Ok(CopyOut {
        stream: conn.copy_out_raw(&statement).await?,
        buf: Vec::new(),
        at: 0,
        fields: Vec::new(),
        header: false,
        ended: false,
    })
}

impl CopyOut<'_> {
    /// The next tuple; `None` after the trailer.
    pub async fn next(&mut self) -> Result<Option<CopyRow<'_>>, StoreError> {
        loop {
            if self.ended {
                return Ok(None);
            }
            if !self.header {
                if self.buf.len() >= HEADER.len() {
                    if !self.buf.starts_with(&HEADER[..11]) {
                        return Err(malformed("no signature"));
                    }
                    let extension = u32::from_be_bytes(fixed(Some(&self.buf[15..19]))?) as usize;
                    if self.buf.len() >= HEADER.len() + extension {
                        self.at = HEADER.len() + extension;
                        self.header = true;
                        continue;
                    }
                }
            } else if let Some(end) = self.parse()? {
                self.at = end;
                if self.ended {
                    // The stream ends after the trailer: reading it to its end reads the
                    // statement's completion, which leaves the connection ready.
                    while let Some(chunk) = self.stream.next().await {
                        if !chunk?.is_empty() {
                            return Err(malformed("data after the trailer"));
                        }
                    }
                    return Ok(None);
                }
                return Ok(Some(CopyRow {
                    data: &self.buf,
                    fields: &self.fields,
                }));
            }
            // More data: what is parsed goes first.
            self.buf.drain(..self.at);
            self.at = 0;
            match self.stream.next().await {
                Some(chunk) => self.buf.extend_from_slice(&chunk?),
                None => return Err(malformed("the stream ended before its trailer")),
            }
        }
    }

    /// Splits the tuple at `at` into `fields` and returns where it ends (the trailer sets
    /// `ended`); `None` when the buffer does not hold all of it yet.
    fn parse(&mut self) -> Result<Option<usize>, StoreError> {
        let buf = &self.buf;
        let mut at = self.at;
        let Some(count) = buf.get(at..at + 2) else {
            return Ok(None);
        };
        let count = i16::from_be_bytes([count[0], count[1]]);
        at += 2;
        if count == -1 {
            self.ended = true;
            return Ok(Some(at));
        }
        let count = usize::try_from(count).map_err(|_| malformed("a negative field count"))?;
        self.fields.clear();
        for _ in 0..count {
            let Some(len) = buf.get(at..at + 4) else {
                return Ok(None);
            };
            let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
            at += 4;
            self.fields.push((at, len));
            if let Ok(n) = usize::try_from(len) {
                at += n;
                if at > buf.len() {
                    return Ok(None);
                }
            }
        }
        Ok(Some(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fields carry their length and big-endian bytes; NULL is a length of -1; dates count
    /// days from 2000-01-01.
    #[test]
    fn rows_are_encoded_in_the_binary_format() {
        let mut rows = CopyRows::new();
        rows.row(4)
            .field("ab")
            .field(None::<i64>)
            .field(NaiveDate::from_ymd_opt(2000, 1, 2).unwrap())
            .field(true);
        assert_eq!(rows.rows(), 1);
        let bytes = rows.into_bytes();
        let (header, body) = bytes.split_at(HEADER.len());
        assert_eq!(&header[..11], b"PGCOPY\n\xff\r\n\0");
        assert_eq!(
            body,
            [
                &[0, 4][..],
                &[0, 0, 0, 2, b'a', b'b'],
                &[0xff, 0xff, 0xff, 0xff],
                &[0, 0, 0, 4, 0, 0, 0, 1],
                &[0, 0, 0, 1, 1],
                &[0xff, 0xff],
            ]
            .concat()
        );
        let mut before = CopyRows::new();
        before
            .row(1)
            .field(NaiveDate::from_ymd_opt(1999, 12, 31).unwrap());
        assert_eq!(
            &before.into_bytes()[HEADER.len() + 2..HEADER.len() + 10],
            &[0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff]
        );
    }
}
