//! Parser behaviour on real inputs: spans, errors, heredocs, CRLF/BOM, directives, and a
//! property test that no input (random bytes or mutated real Dockerfiles) makes it panic.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gen_pipeline::diag::Span;
use gen_pipeline::dockerfile::{parse, Dockerfile, Heredoc, Instruction, KNOWN_INSTRUCTIONS};
use proptest::prelude::*;

fn ok(src: &str) -> Dockerfile {
    parse(src).unwrap_or_else(|e| panic!("parse failed: {e}\n--- source ---\n{src}"))
}

fn err(src: &str) -> (usize, usize, String) {
    match parse(src) {
        Ok(df) => panic!("expected an error, got:\n{}", df.dump()),
        Err(e) => (e.diag.span.line, e.diag.span.col, e.diag.message),
    }
}

fn sp(line: usize, col: usize) -> Span {
    Span { line, col }
}

fn lines_of(df: &Dockerfile) -> Vec<(usize, usize, usize)> {
    df.instructions
        .iter()
        .map(|i| (i.span.line, i.span.col, i.end_line))
        .collect()
}

// ---------------------------------------------------------------- spans

#[test]
fn spans_and_end_lines() {
    let src = "# syntax=docker/dockerfile:1\n\nFROM alpine AS base\n\n  RUN echo a \\\n   && echo b\n\tCOPY --from=base --chmod=755 /a /b\n";
    let df = ok(src);
    assert_eq!(lines_of(&df), vec![(3, 1, 3), (5, 3, 6), (7, 2, 7)]);
    let copy = &df.instructions[2];
    assert_eq!(copy.flags, ["--from=base", "--chmod=755"]);
    assert_eq!(copy.flag_spans, [sp(7, 7), sp(7, 19)]);
    assert_eq!(copy.flag("from"), Some("base"));
    assert_eq!(copy.flag("chmod"), Some("755"));
    assert_eq!(copy.flag("link"), None);
    assert_eq!(df.instructions[1].original, "RUN echo a    && echo b");
}

#[test]
fn keyword_on_a_continuation_line_is_located_there() {
    // A line holding only the escape starts an instruction whose keyword is on the next line.
    let df = ok("FROM a\n\\\n    RUN x\n");
    let run = &df.instructions[1];
    assert_eq!(run.keyword, "run");
    assert_eq!((run.span, run.end_line), (sp(3, 5), 3));
}

#[test]
fn flags_spread_over_continuation_lines_are_located() {
    let df = ok("FROM a\nRUN --mount=type=cache,target=/x \\\n    --network=none \\\n  make\n");
    let run = &df.instructions[1];
    assert_eq!(
        run.flags,
        ["--mount=type=cache,target=/x", "--network=none"]
    );
    assert_eq!(run.flag_spans, [sp(2, 5), sp(3, 5)]);
    assert_eq!(run.args, ["make"]);
    assert_eq!((run.span, run.end_line), (sp(2, 1), 4));
}

#[test]
fn columns_count_characters_not_bytes() {
    // NBSP is trimmed before the keyword; the tab ends the (unknown) keyword `é`.
    let df = ok("FROM a\n\u{a0}é\tCOPY --from=a /x /y\n");
    assert_eq!(
        (df.instructions[1].keyword.as_str(), df.instructions[1].span),
        ("é", sp(2, 2))
    );
    let df = ok("FROM a\n \u{3000}COPY --from=a /x /y\n");
    assert_eq!(df.instructions[1].span, sp(2, 3));
    assert_eq!(df.instructions[1].flag_spans, [sp(2, 8)]);
}

// ---------------------------------------------------------------- errors

#[test]
fn errors_carry_line_and_column() {
    assert_eq!(
        err("FROM busybox\n\nENV PATH\n"),
        (3, 1, "ENV must have two arguments".into())
    );
    let (l, c, m) = err("FROM a\n  LABEL a=b c\n");
    assert_eq!((l, c), (2, 3));
    assert_eq!(
        m,
        "Syntax error - can't find = in \"c\". Must be of the form: name=value"
    );
    let (l, c, m) = err("FROM a\nCMD [ \"echo\", [ \"nested json\" ] ]\n");
    assert_eq!((l, c), (2, 1));
    assert!(
        m.contains("arrays must be comprised of strings only"),
        "{m}"
    );
    let (l, c, m) = err("FROM a\n\tENTRYPOINT [\"a\", 1]\n");
    assert_eq!((l, c), (2, 2));
    assert!(m.contains("strings only"), "{m}");
    // The ONBUILD sub-instruction's error is reported at the ONBUILD.
    assert_eq!(
        err("FROM a\nONBUILD ENV X\n"),
        (2, 1, "ENV must have two arguments".into())
    );
}

#[test]
fn empty_and_comment_only_files_are_rejected() {
    assert_eq!(err(""), (1, 1, "file with no instructions".into()));
    assert_eq!(err("\n\n   \n"), (1, 1, "file with no instructions".into()));
    assert_eq!(
        err("# syntax=x\n# just a comment\n"),
        (1, 1, "file with no instructions".into())
    );
    assert_eq!(err("\u{feff}"), (1, 1, "file with no instructions".into()));
}

#[test]
fn directive_errors() {
    let (l, c, m) = err("# escape=x\nFROM a\n");
    assert_eq!((l, c), (1, 1));
    assert_eq!(m, "invalid escape token 'x' does not match ` or \\");
    let (l, c, m) = err("# escape=`\n  # ESCAPE=\\\nFROM a\n");
    assert_eq!((l, c), (2, 3));
    assert_eq!(m, "only one escape parser directive can be used");
}

#[test]
fn unterminated_heredoc_is_an_error_at_the_instruction() {
    let (l, c, m) = err("FROM a\n  RUN <<EOF\necho hi\n");
    assert_eq!((l, c), (2, 3));
    assert!(m.contains("unterminated heredoc"), "{m}");
    // The terminator must match exactly (no trailing text, no indentation without `<<-`).
    assert!(parse("FROM a\nRUN <<EOF\nx\n EOF\n").is_err());
    assert!(parse("FROM a\nRUN <<EOF\nx\nEOF \n").is_err());
}

#[test]
fn unterminated_quote_in_heredoc_word_is_an_error() {
    // The line lexes as a whole (the escaped quote sits in `${a:-...}`), but the heredoc
    // word alone does not: BuildKit fails the parse.
    let (l, c, m) = err("FROM a\n RUN <<${a:-\\'}\nEOF\n");
    assert_eq!((l, c), (2, 2));
    assert!(m.contains("missing '}'"), "{m}");
}

#[test]
fn overlong_lines_are_rejected_like_buildkit() {
    let long = format!("FROM a\nLABEL test={}\n", "a".repeat(65536));
    let (l, _, m) = err(&long);
    assert_eq!(l, 2);
    assert_eq!(m, "dockerfile line greater than max allowed size of 65535");
    // 65535 bytes is still fine.
    let fits = format!("FROM a\nLABEL t={}\n", "a".repeat(65535 - "LABEL t=".len()));
    assert_eq!(ok(&fits).instructions[1].args[1].len(), 65535 - 8);
}

// ---------------------------------------------------------------- unknown instructions

#[test]
fn unknown_instructions_parse_and_offer_a_suggestion() {
    let df = ok("FROM a\nRUNN echo hi\nCOPPY a b\nFROBNICATE x\n");
    let unknown: Vec<&Instruction> = df.instructions.iter().filter(|i| !i.is_known()).collect();
    assert_eq!(unknown.len(), 3);
    assert_eq!(unknown[0].suggestion().as_deref(), Some("RUN"));
    assert_eq!(unknown[1].suggestion().as_deref(), Some("COPY"));
    assert_eq!(unknown[2].suggestion(), None);
    // BuildKit keeps an unknown instruction as a node with one empty argument.
    assert_eq!(
        df.dump(),
        "(from \"a\")\n(runn \"\")\n(coppy \"\")\n(frobnicate \"\")"
    );
    assert!(df.instructions[0].is_known());
    assert_eq!(KNOWN_INSTRUCTIONS.len(), 18);
}

#[test]
fn instructions_are_case_insensitive() {
    let df = ok("fRoM a AS B\nrun echo\nCoPy --FROM=B x y\n");
    let kws: Vec<&str> = df.instructions.iter().map(|i| i.keyword.as_str()).collect();
    assert_eq!(kws, ["from", "run", "copy"]);
    assert_eq!(df.instructions[0].args, ["a", "AS", "B"]);
    assert_eq!(df.instructions[2].flags, ["--FROM=B"]);
}

// ---------------------------------------------------------------- forms

#[test]
fn exec_and_shell_forms() {
    let df = ok(concat!(
        "FROM a\n",
        "RUN [\"echo\", \"a b\"]\n",
        "RUN echo [\"x\"]\n",
        "CMD ['single']\n",
        "ENTRYPOINT [\"a\"] trailing\n",
        "SHELL [\"/bin/sh\", \"-c\"]\n",
        "COPY [\"a b\", \"/c\"]\n",
        "COPY a   b\tc\n",
        "VOLUME [\"/v\"]\n",
        "CMD []\n",
        "RUN [\"\\u00e9\\n\"]\n",
    ));
    let forms: Vec<(bool, Vec<String>)> = df
        .instructions
        .iter()
        .skip(1)
        .map(|i| (i.json, i.args.clone()))
        .collect();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        forms,
        vec![
            (true, s(&["echo", "a b"])),
            (false, s(&["echo [\"x\"]"])),
            (false, s(&["['single']"])),
            (false, s(&["[\"a\"] trailing"])),
            (true, s(&["/bin/sh", "-c"])),
            (true, s(&["a b", "/c"])),
            (false, s(&["a", "b", "c"])),
            (true, s(&["/v"])),
            (true, s(&[])),
            (true, s(&["é\n"])),
        ]
    );
    assert_eq!(df.instructions[10].dump(), "run \"é\\n\"");
}

#[test]
fn env_label_arg_shapes() {
    let df = ok(concat!(
        "FROM a\n",
        "ENV A=1 B=\"two words\" C=x\\ y\n",
        "ENV D old style value\n",
        "LABEL \"com.x\"=\"v\" k=\n",
        "ARG X Y=2 Z=\"q r\"\n",
        "ENV\n",
    ));
    assert_eq!(
        df.instructions[1].args,
        ["A", "1", "=", "B", "\"two words\"", "=", "C", "x\\ y", "="]
    );
    assert_eq!(df.instructions[2].args, ["D", "old style value", ""]);
    assert_eq!(
        df.instructions[3].args,
        ["\"com.x\"", "\"v\"", "=", "k", "", "="]
    );
    assert_eq!(df.instructions[4].args, ["X", "Y=2", "Z=\"q r\""]);
    assert!(df.instructions[5].args.is_empty());
}

#[test]
fn healthcheck_and_onbuild() {
    let df = ok("FROM a\nHEALTHCHECK --interval=5s CMD [\"curl\", \"-f\"]\nHEALTHCHECK NONE\nONBUILD --x RUN --mount=type=cache,target=/c make\nONBUILD\n");
    let hc = &df.instructions[1];
    assert_eq!(
        (hc.flags.clone(), hc.args.clone(), hc.json),
        (
            vec!["--interval=5s".to_owned()],
            vec!["CMD".to_owned(), "curl".into(), "-f".into()],
            true
        )
    );
    assert_eq!(df.instructions[2].args, ["NONE"]);
    let ob = &df.instructions[3];
    assert!(ob.args.is_empty());
    assert_eq!(ob.flags, ["--x"]);
    let sub = ob.sub.as_deref().expect("nested instruction");
    assert_eq!(
        (sub.keyword.as_str(), sub.flags.clone(), sub.args.clone()),
        (
            "run",
            vec!["--mount=type=cache,target=/c".to_owned()],
            vec!["make".to_owned()]
        )
    );
    assert_eq!(sub.span, sp(4, 13));
    assert_eq!(sub.flag_spans, [sp(4, 17)]);
    assert_eq!(
        ob.dump(),
        "onbuild [\"--x\"] (run [\"--mount=type=cache,target=/c\"] \"make\")"
    );
    assert_eq!(df.instructions[4].dump(), "onbuild");
}

#[test]
fn onbuild_chains_are_bounded_not_recursive_forever() {
    let deep = format!("FROM a\n{}RUN x\n", "ONBUILD \\\n".repeat(100_000));
    let (l, c, m) = err(&deep);
    assert_eq!((l, c), (2, 1));
    assert!(m.contains("ONBUILD nested"), "{m}");
    assert_eq!(
        ok("FROM a\nONBUILD ONBUILD RUN x\n").dump(),
        "(from \"a\")\n(onbuild (onbuild (run \"x\")))"
    );
}

// ---------------------------------------------------------------- continuations, comments

#[test]
fn comments_and_empty_lines_inside_continuations() {
    let src = "FROM a\nRUN one \\\n# a comment \\\n\n   # indented comment\n  two \\\n\n  three\nRUN four\n";
    let df = ok(src);
    assert_eq!(df.instructions[1].args, ["one   two   three"]);
    assert_eq!(lines_of(&df), vec![(1, 1, 1), (2, 1, 8), (9, 1, 9)]);
    // BuildKit warns once per instruction with empty continuation lines; we point at the first.
    assert_eq!(df.warnings.len(), 1);
    assert_eq!(df.warnings[0].span, sp(4, 1));
}

#[test]
fn buildkit_empty_continuation_warnings() {
    let src = "\nFROM alpine:3.6\n\nRUN valid \\\n    continuation\n\nRUN something \\\n\n    following \\\n\n    more\n\nRUN another \\\n\n    thing\n\nRUN non-indented \\\n# this is a comment\n   after-comment\n\nRUN indented \\\n    # this is an indented comment\n    comment\n\t";
    let df = ok(src);
    assert_eq!(
        df.warnings.iter().map(|w| w.span.line).collect::<Vec<_>>(),
        [8, 14]
    );
    assert_eq!(
        df.instructions[2].args,
        ["something     following     more"]
    );
    assert_eq!(df.instructions[3].args, ["another     thing"]);
    assert_eq!(df.instructions[4].args, ["non-indented    after-comment"]);
}

#[test]
fn continuation_at_eof_and_escaped_escape() {
    let df = ok("FROM a\nRUN something \\");
    assert_eq!(df.instructions[1].args, ["something"]);
    let df = ok("FROM a\nENV C trailing\\\\\nENV D x\n");
    assert_eq!(df.instructions.len(), 3);
    assert_eq!(df.instructions[1].args, ["C", "trailing\\\\", ""]);
}

// ---------------------------------------------------------------- directives, escape, CRLF, BOM

#[test]
fn escape_directive_switches_continuation_token() {
    let df = ok("# escape=`\nFROM windows\nRUN dir c:\\\nRUN echo `\n  done\n");
    assert_eq!(df.escape, '`');
    assert_eq!(df.directives, [("escape".to_owned(), "`".to_owned())]);
    assert_eq!(df.instructions[1].args, ["dir c:\\"]);
    assert_eq!(df.instructions[2].args, ["echo   done"]);
    assert_eq!(lines_of(&df), vec![(2, 1, 2), (3, 1, 3), (4, 1, 5)]);
}

#[test]
fn directives_are_case_insensitive_and_only_at_the_top() {
    let df = ok("#SYNTAX = docker/dockerfile:1.7\n# Check=skip=all\n#  ESCAPE = `   \nFROM a\n");
    assert_eq!(
        df.directives,
        [
            ("syntax".into(), "docker/dockerfile:1.7".into()),
            ("check".into(), "skip=all".into()),
            ("escape".into(), "`".into())
        ]
    );
    assert_eq!(df.escape, '`');
}

#[test]
fn directive_after_a_comment_is_just_a_comment() {
    let df = ok("# hello\n# escape=`\nFROM a\nRUN a `\nRUN b\n");
    assert!(df.directives.is_empty());
    assert_eq!(df.escape, '\\');
    assert_eq!(df.instructions.len(), 3);
    assert_eq!(df.instructions[1].args, ["a `"]);
    // After an empty line or an instruction too.
    for src in [
        "\n# escape=`\nFROM a\n",
        "FROM a\n# escape=`\n",
        "# unknown=1\n# escape=`\nFROM a\n",
    ] {
        let df = ok(src);
        assert_eq!((df.escape, df.directives.len()), ('\\', 0), "{src:?}");
    }
}

#[test]
fn crlf_and_bom() {
    let src = "\u{feff}# escape=`\r\nFROM a AS b\r\nRUN echo `\r\n  more\r\nCOPY <<EOF /x\r\nline\r\nEOF\r\n";
    let df = ok(src);
    assert_eq!(df.escape, '`');
    assert_eq!(df.instructions[0].args, ["a", "AS", "b"]);
    assert_eq!(df.instructions[1].args, ["echo   more"]);
    assert_eq!(lines_of(&df), vec![(2, 1, 2), (3, 1, 4), (5, 1, 7)]);
    assert_eq!(df.instructions[2].heredocs[0].content, "line\r\n");
    // A BOM anywhere but the start is not stripped.
    let df = ok("FROM a\n\u{feff}RUN x\n");
    assert_eq!(df.instructions[1].keyword, "\u{feff}run");
}

// ---------------------------------------------------------------- heredocs

fn hd(name: &str, content: &str, expand: bool, chomp: bool) -> Heredoc {
    Heredoc {
        name: name.into(),
        content: content.into(),
        expand,
        chomp,
    }
}

#[test]
fn heredocs_like_buildkit() {
    // The cases of BuildKit's TestParseExtractsHeredoc.
    let src = "\nFROM alpine:3.6\n\nENV NAME=me\n\nRUN ls\n\nUSER <<INVALID\nINVALID\n\nRUN <<EMPTY\nEMPTY\n\nRUN 3<<EMPTY2\nEMPTY2\n\nRUN \"<<NOHEREDOC\"\n\nRUN <<INDENT\n\tfoo\n\tbar\nINDENT\n\nRUN <<-UNINDENT\n\tbaz\n\tquux\nUNINDENT\n\nRUN <<-UNINDENT2\n\tbaz\n\tquux\n\tUNINDENT2\n\nRUN <<-'NOEXPAND'\n\tdon't expand $NAME\nNOEXPAND\n\nRUN <<COMMENT\n# internal comment\necho hello world\nCOMMENT\n\nRUN --mount=type=cache,target=/foo <<MOUNT\necho hello\nMOUNT\n\nCOPY <<FILE1 <<FILE2 /dest\ncontent 1\nFILE1\ncontent 2\nFILE2\n\nCOPY <<X <<Y /dest\nY\nX\nX\nY\n\nRUN <<COMPLEX python3\nprint('hello world')\nCOMPLEX\n\nRUN <<eo'f'\necho foo\neof\n\nRUN <<eo\\'f\necho foo\neo'f\n\nRUN <<'e'o\\'f\necho foo\neo'f\n\nRUN <<'one two'\necho bar\none two\n\nRUN <<$EOF\n$EOF\n\nRUN <<  EOF  > foo\nEOF\n\t";
    let df = ok(src);
    let got: Vec<Vec<Heredoc>> = df
        .instructions
        .iter()
        .skip(1)
        .map(|i| i.heredocs.clone())
        .collect();
    let expected: Vec<Vec<Heredoc>> = vec![
        vec![],
        vec![],
        vec![], // USER <<INVALID
        vec![], // INVALID
        vec![hd("EMPTY", "", true, false)],
        vec![hd("EMPTY2", "", true, false)],
        vec![],
        vec![hd("INDENT", "\tfoo\n\tbar\n", true, false)],
        vec![hd("UNINDENT", "\tbaz\n\tquux\n", true, true)],
        vec![hd("UNINDENT2", "\tbaz\n\tquux\n", true, true)],
        vec![hd("NOEXPAND", "\tdon't expand $NAME\n", false, true)],
        vec![hd(
            "COMMENT",
            "# internal comment\necho hello world\n",
            true,
            false,
        )],
        vec![hd("MOUNT", "echo hello\n", true, false)],
        vec![
            hd("FILE1", "content 1\n", true, false),
            hd("FILE2", "content 2\n", true, false),
        ],
        vec![hd("X", "Y\n", true, false), hd("Y", "X\n", true, false)],
        vec![hd("COMPLEX", "print('hello world')\n", true, false)],
        vec![hd("eof", "echo foo\n", false, false)],
        vec![hd("eo'f", "echo foo\n", true, false)],
        vec![hd("eo'f", "echo foo\n", false, false)],
        vec![hd("one two", "echo bar\n", false, false)],
        vec![hd("$EOF", "", true, false)],
        vec![hd("EOF", "", true, false)],
    ];
    assert_eq!(got, expected);
    // The dump shows the instruction line only, like BuildKit's Node.Dump().
    assert_eq!(
        df.instructions[14].dump(),
        "copy \"<<FILE1\" \"<<FILE2\" \"/dest\""
    );
    assert_eq!(
        df.instructions[9].heredocs[0].effective_content(),
        "baz\nquux\n"
    );
}

#[test]
fn heredoc_bodies_are_never_instructions() {
    let df = ok("FROM a\nRUN <<EOF\nFROM evil\n# escape=`\nRUN \\\nEOF\nRUN after\n");
    assert_eq!(df.instructions.len(), 3);
    assert_eq!(
        df.instructions[1].heredocs[0].content,
        "FROM evil\n# escape=`\nRUN \\\n"
    );
    assert_eq!(lines_of(&df), vec![(1, 1, 1), (2, 1, 6), (7, 1, 7)]);
    assert_eq!(df.instructions[2].args, ["after"]);
}

#[test]
fn heredocs_only_on_run_copy_add_shell_form() {
    let df = ok(
        "FROM a\nRUN [\"<<EOF\"]\nCMD <<EOF\nADD <<EOF /x\nbody\nEOF\nONBUILD RUN <<EOF\nob\nEOF\n",
    );
    assert!(df.instructions[1].heredocs.is_empty());
    assert!(df.instructions[2].heredocs.is_empty());
    assert_eq!(
        df.instructions[3].heredocs,
        [hd("EOF", "body\n", true, false)]
    );
    assert_eq!(
        df.instructions[4].heredocs,
        [hd("EOF", "ob\n", true, false)]
    );
    assert_eq!(df.instructions[4].end_line, 9);
}

#[test]
fn heredoc_after_a_continuation_and_chomped_terminator() {
    let df = ok("FROM a\nRUN --network=none \\\n  <<-EOT bash\n\t\techo $HOME\n\t\tEOT\nRUN x\n");
    let run = &df.instructions[1];
    assert_eq!(run.heredocs, [hd("EOT", "\t\techo $HOME\n", true, true)]);
    assert_eq!(run.heredocs[0].effective_content(), "echo $HOME\n");
    assert_eq!((run.span, run.end_line), (sp(2, 1), 5));
    assert_eq!(run.args, ["<<-EOT bash"]);
}

// ---------------------------------------------------------------- dump

#[test]
fn dump_quotes_like_go() {
    let df = ok("FROM a\nLABEL k=\"tab\there\" u=\"\u{1}\u{7f}\u{a0}é😀\"\n");
    assert_eq!(
        df.dump(),
        r#"(from "a")
(label "k" "\"tab\there\"" "=" "u" "\"\x01\x7f\u00a0é😀\"" "=")"#
    );
}

// ---------------------------------------------------------------- robustness

fn conformance_dockerfiles() -> Vec<String> {
    let dir: PathBuf = match std::env::var_os("GEN_PIPELINE_CONFORMANCE_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/buildkit-parser"),
    };
    let mut out = Vec::new();
    for sub in ["testfiles", "testfiles-negative"] {
        let rd = std::fs::read_dir(dir.join(sub))
            .unwrap_or_else(|e| panic!("conformance data missing in {}: {e}", dir.display()));
        let mut paths: Vec<PathBuf> = rd.map(|e| e.unwrap().path().join("Dockerfile")).collect();
        paths.sort();
        for p in paths {
            out.push(String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned());
        }
    }
    assert_eq!(out.len(), 37);
    out
}

/// Whatever parses must be internally consistent.
fn check_invariants(src: &str) {
    if let Ok(df) = parse(src) {
        let lines = src.split('\n').count();
        let mut prev = 0;
        for ins in &df.instructions {
            assert!(ins.span.line >= 1 && ins.span.col >= 1, "{:?}", ins.span);
            assert!(ins.span.line > prev, "instructions out of order");
            assert!(
                ins.end_line >= ins.span.line && ins.end_line <= lines,
                "{} {} {lines}",
                ins.span.line,
                ins.end_line
            );
            assert_eq!(ins.flags.len(), ins.flag_spans.len());
            prev = ins.end_line;
        }
        let dump = df.dump();
        assert_eq!(dump.lines().count(), df.instructions.len());
    }
}

const TOKENS: &[&str] = &[
    "\\\n", "`\n", "<<EOF", "<<-'E'", "\nEOF\n", "[", "]", "\"", "'", "#", "\r\n", "ONBUILD ",
    "--", "=", "${a:-", "}", "\u{feff}", "\u{a0}", "é", "\t", "\n\n",
];

#[derive(Debug, Clone)]
enum Mutation {
    DeleteChar(usize),
    DupChar(usize),
    SwapChars(usize, usize),
    DeleteLine(usize),
    DupLine(usize),
    SwapLines(usize, usize),
    Insert(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::DeleteChar),
        any::<usize>().prop_map(Mutation::DupChar),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapChars(a, b)),
        any::<usize>().prop_map(Mutation::DeleteLine),
        any::<usize>().prop_map(Mutation::DupLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Insert(a, b)),
    ]
}

fn apply(src: &str, m: &Mutation) -> String {
    let mut chars: Vec<char> = src.chars().collect();
    let mut lines: Vec<&str> = src.split_inclusive('\n').collect();
    let n = chars.len().max(1);
    let ln = lines.len().max(1);
    match *m {
        Mutation::DeleteChar(i) if !chars.is_empty() => {
            chars.remove(i % n);
        }
        Mutation::DupChar(i) if !chars.is_empty() => {
            let c = chars[i % n];
            chars.insert(i % n, c);
        }
        Mutation::SwapChars(a, b) if !chars.is_empty() => chars.swap(a % n, b % n),
        Mutation::Insert(at, t) => {
            let at = at % (chars.len() + 1);
            for (k, c) in TOKENS[t % TOKENS.len()].chars().enumerate() {
                chars.insert(at + k, c);
            }
        }
        Mutation::DeleteLine(i) if !lines.is_empty() => {
            lines.remove(i % ln);
            return lines.concat();
        }
        Mutation::DupLine(i) if !lines.is_empty() => {
            let l = lines[i % ln];
            lines.insert(i % ln, l);
            return lines.concat();
        }
        Mutation::SwapLines(a, b) if !lines.is_empty() => {
            lines.swap(a % ln, b % ln);
            return lines.concat();
        }
        _ => {}
    }
    chars.into_iter().collect()
}

proptest! {
    // 512 cases by default; PROPTEST_CASES=N runs more.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        check_invariants(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn dockerfile_like_text_never_panics(parts in proptest::collection::vec(
        prop_oneof![
            proptest::sample::select(TOKENS.to_vec()).prop_map(str::to_owned),
            proptest::sample::select(KNOWN_INSTRUCTIONS.to_vec()).prop_map(|k| format!("\n{} ", k.to_uppercase())),
            "[ -~]{0,12}",
        ], 0..40)) {
        check_invariants(&parts.concat());
    }

    #[test]
    fn mutated_real_dockerfiles_never_panic(idx in any::<usize>(), muts in proptest::collection::vec(mutation(), 1..8)) {
        thread_local!(static FILES: Vec<String> = conformance_dockerfiles());
        let base = FILES.with(|f| f[idx % f.len()].clone());
        let mut src = base;
        for m in &muts {
            src = apply(&src, m);
        }
        check_invariants(&src);
    }
}

// ---------------------------------------------------------------- performance

fn synthetic(stages: usize) -> String {
    let mut s = String::from("# syntax=docker/dockerfile:1\nARG BASE=alpine:3.20\n");
    for i in 0..stages {
        s.push_str(&format!(
            "FROM ${{BASE}} AS s{i}\nCOPY --from=s{prev} --link /out /in\nRUN --mount=type=cache,target=/root/.cache \\\n    apk add --no-cache build-base && \\\n    # a comment inside\n    make -j4 all\nENV A{i}=1 B=\"two words\" C=x\\ y\nRUN <<EOF\necho {i}\nEOF\nCMD [\"/bin/app\", \"--flag\"]\n",
            prev = i.saturating_sub(1)
        ));
    }
    s
}

fn time_parse(src: &str) -> Duration {
    let t = Instant::now();
    let df = parse(src).expect("synthetic file parses");
    let d = t.elapsed();
    assert!(df.instructions.len() > 6);
    d
}

#[test]
fn parse_time_is_linear_in_input_size() {
    let small = synthetic(2_000);
    let large = synthetic(16_000);
    // Warm up, then take the best of three to reduce noise.
    let best = |s: &str| (0..3).map(|_| time_parse(s)).min().unwrap();
    let (ts, tl) = (best(&small), best(&large));
    // 8x the input; a quadratic parser would take ~64x. Allow generous noise.
    assert!(
        tl < ts * 24 + Duration::from_millis(20),
        "small {ts:?}, large {tl:?}"
    );
}

/// Wall-clock budget: run alone, in release, on an idle machine
/// (`cargo test --release --test it parser::ten_megabytes -- --ignored`).
#[test]
#[ignore = "wall-clock budget; needs --release and an idle machine"]
fn ten_megabytes_parse_quickly_in_release() {
    let src = synthetic(40_000);
    assert!(src.len() > 10_000_000, "{}", src.len());
    let t = (0..3).map(|_| time_parse(&src)).min().unwrap();
    eprintln!("{} bytes parsed in {t:?} (best of 3)", src.len());
    let limit = if cfg!(debug_assertions) {
        Duration::from_secs(20)
    } else {
        Duration::from_millis(100)
    };
    assert!(t < limit, "10 MB parsed in {t:?}");
}

#[test]
fn ten_megabytes_parse_without_blowing_up() {
    // Always-on guard (any profile): the dense 10 MB file parses fully and within a
    // budget far below what a quadratic pass would need.
    let src = synthetic(40_000);
    let t = Instant::now();
    let df = parse(&src).expect("parses");
    assert_eq!(df.instructions.len(), 1 + 40_000 * 6); // ARG + six per stage
    assert_eq!(
        df.instructions.last().unwrap().end_line,
        src.lines().count()
    );
    assert!(t.elapsed() < Duration::from_secs(60), "{:?}", t.elapsed());
}

/// The conformance Dockerfiles concatenated to ~10 MB (real-world line lengths).
#[test]
#[ignore = "wall-clock budget; needs --release and an idle machine"]
fn ten_megabytes_of_real_dockerfiles_parse_quickly_in_release() {
    // Files ending in a continuation would swallow the next file's first line.
    let files: Vec<String> = conformance_dockerfiles()
        .into_iter()
        .take(33)
        .filter(|f| parse(&format!("{f}\nFROM x\n")).is_ok())
        .collect();
    assert!(files.len() >= 30, "{}", files.len());
    let mut src = String::new();
    while src.len() < 10_000_000 {
        for f in &files {
            src.push_str(f);
            src.push('\n');
        }
    }
    let t = (0..3).map(|_| time_parse(&src)).min().unwrap();
    eprintln!("{} bytes parsed in {t:?} (best of 3)", src.len());
    let limit = if cfg!(debug_assertions) {
        Duration::from_secs(20)
    } else {
        Duration::from_millis(100)
    };
    assert!(t < limit, "10 MB parsed in {t:?}");
}
