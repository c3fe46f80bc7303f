//! Reading the scripts' replies.

use redis::Value;

use crate::error::Error;

/// The bytes of a string reply (empty for nil).
pub(crate) fn bytes(value: &Value) -> Result<Vec<u8>, Error> {
    match value {
        Value::BulkString(bytes) => Ok(bytes.clone()),
        Value::SimpleString(text) => Ok(text.as_bytes().to_vec()),
        Value::Int(n) => Ok(n.to_string().into_bytes()),
        Value::Nil | Value::Boolean(false) => Ok(Vec::new()),
        other => Err(Error::Protocol(format!("expected a string, got {other:?}"))),
    }
}

/// A string reply as text.
pub(crate) fn text(value: &Value) -> Result<String, Error> {
    String::from_utf8(bytes(value)?).map_err(|_| Error::Protocol("a reply that is not UTF-8".into()))
}

/// A number reply (an integer, or the text of one; a score such as `1.7e15` is read too). Nil reads as 0.
pub(crate) fn number(value: &Value) -> Result<u64, Error> {
    if let Value::Int(n) = value {
        return u64::try_from(*n).map_err(|_| Error::Protocol(format!("a negative number {n}")));
    }
    let text = text(value)?;
    if text.is_empty() {
        return Ok(0);
    }
    if let Ok(n) = text.parse::<u64>() {
        return Ok(n);
    }
    match text.parse::<f64>() {
        Ok(f) if (0.0..1.8e19).contains(&f) => Ok(f as u64),
        _ => Err(Error::Protocol(format!("expected a number, got {text:?}"))),
    }
}

/// The items of an array reply (nil and an empty array read as none).
pub(crate) fn array(value: &Value) -> Result<&[Value], Error> {
    match value {
        Value::Array(items) | Value::Set(items) => Ok(items),
        Value::Nil => Ok(&[]),
        other => Err(Error::Protocol(format!("expected an array, got {other:?}"))),
    }
}

/// One number of a reply, 0 when it is not one.
pub(crate) fn number_or_zero(value: &Value) -> u64 {
    number(value).unwrap_or(0)
}
