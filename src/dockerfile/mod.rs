//! Dockerfile parser following BuildKit's `frontend/dockerfile/parser` rules.
//!
//! OWNER: parser work (issue 2). The public types below are the contract the graph
//! builder codes against; extend them, don't rename them.

use crate::diag::{Diagnostic, Span};

/// One parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dockerfile {
    /// Parser directives found at the top (`syntax`, `escape`, `check`), lower-cased keys.
    pub directives: Vec<(String, String)>,
    /// The escape character in effect (`\\` or `` ` ``).
    pub escape: char,
    pub instructions: Vec<Instruction>,
    /// Things BuildKit only warns about (e.g. empty continuation lines).
    pub warnings: Vec<Diagnostic>,
}

/// One instruction, as BuildKit's `Node` with its `Next` chain flattened into `args`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// Lower-cased keyword: `from`, `run`, `copy`, ...
    pub keyword: String,
    /// Flags as written, e.g. `["--from=base", "--mount=type=cache,target=/x"]`.
    pub flags: Vec<String>,
    /// Argument nodes exactly as BuildKit's dump prints them (see the conformance results):
    /// exec form: each JSON element; shell form: one string; FROM: `["img", "AS", "name"]`;
    /// ENV/LABEL: key, value, separator triplets; ONBUILD: empty, with `sub` set.
    pub args: Vec<String>,
    /// True when the arguments were in JSON (exec) form.
    pub json: bool,
    /// The whole instruction's text as written (continuations joined).
    pub original: String,
    /// Where the keyword starts.
    pub span: Span,
    /// Last physical line of the instruction (heredoc bodies included).
    pub end_line: usize,
    /// Heredocs attached to RUN/COPY/ADD, in order.
    pub heredocs: Vec<Heredoc>,
    /// ONBUILD's nested instruction.
    pub sub: Option<Box<Instruction>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    pub name: String,
    pub content: String,
    pub expand: bool,
    pub chomp: bool,
}

/// A parse error; renders like every other diagnostic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{diag}")]
pub struct ParseError {
    pub diag: Diagnostic,
}

/// Parse a Dockerfile's text.
pub fn parse(_source: &str) -> Result<Dockerfile, ParseError> {
    Err(ParseError { diag: Diagnostic::new(Span { line: 1, col: 1 }, "parser not implemented yet") })
}

impl Dockerfile {
    /// BuildKit's `Node.Dump()` of the whole file, one instruction per line.
    pub fn dump(&self) -> String {
        String::new()
    }
}
