//! Integration tests of the wire types.

mod dialect;
mod parse;
