//! The layering rule, checked on the source (ARCHITECTURE.md, "Layers"):
//!
//! * the top-level modules of `src/` form an acyclic graph: wiring at the
//!   top (`app`), shared basics at the bottom (`base`);
//! * no component imports the `app` layer, and `base` imports nothing of
//!   the project;
//! * no import cycle between files spans more than one folder.
//!
//! The graph is read from the code itself: every `use` declaration and
//! every `crate::`/`super::`/`self::` path, resolved to the file that
//! defines the module it names. Comments and string literals are skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

/// One source file and its module path.
struct SourceFile {
    path: PathBuf,
    module: Module,
}

fn source_files(dir: &Path, out: &mut Vec<SourceFile>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path.strip_prefix(src()).expect("under src");
            let mut module: Module = relative
                .with_extension("")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if module
                .last()
                .is_some_and(|last| matches!(last.as_str(), "mod" | "lib" | "main"))
            {
                module.pop();
            }
            out.push(SourceFile { path, module });
        }
    }
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The code without comments, string and char literals (replaced by
/// spaces), so that only real paths are read.
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && is_raw_string(&chars, i) {
            let mut hashes = 0;
            i += 1;
            while chars.get(i) == Some(&'#') {
                hashes += 1;
                i += 1;
            }
            i += 1; // the opening quote
            while i < chars.len() {
                if chars[i] == '"' && (1..=hashes).all(|k| chars.get(i + k) == Some(&'#')) {
                    i += 1 + hashes;
                    break;
                }
                i += 1;
            }
            out.push(' ');
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push(' ');
        } else if c == '\'' && next == Some('\\') {
            i += 2;
            while i < chars.len() && chars[i] != '\'' {
                i += 1;
            }
            i += 1;
            out.push(' ');
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            i += 3;
            out.push(' ');
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// `r"…"` or `r#"…"#`, not an identifier ending in `r`.
fn is_raw_string(chars: &[char], at: usize) -> bool {
    let starts_token = at == 0 || !(chars[at - 1].is_alphanumeric() || chars[at - 1] == '_');
    let mut i = at + 1;
    while chars.get(i) == Some(&'#') {
        i += 1;
    }
    starts_token && chars.get(i) == Some(&'"')
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    PathSep,
    Open,
    Close,
    Comma,
    Semi,
    Star,
    Other,
}

fn tokens(code: &str) -> Vec<Token> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Token::Ident(chars[start..i].iter().collect()));
            continue;
        }
        out.push(match c {
            ':' if chars.get(i + 1) == Some(&':') => {
                i += 1;
                Token::PathSep
            }
            '{' => Token::Open,
            '}' => Token::Close,
            ',' => Token::Comma,
            ';' => Token::Semi,
            '*' => Token::Star,
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            _ => Token::Other,
        });
        i += 1;
    }
    out
}

/// Reads a path (and any `{…}` groups in it) starting at `at`, which holds
/// its first segment; returns every full path it names and where it ends.
fn read_paths(tokens: &[Token], at: usize) -> (Vec<Vec<String>>, usize) {
    let mut prefix = Vec::new();
    let mut i = at;
    loop {
        match tokens.get(i) {
            Some(Token::Ident(name)) => {
                prefix.push(name.clone());
                i += 1;
            }
            Some(Token::Star) => return (vec![prefix], i + 1),
            Some(Token::Open) => {
                let mut all = Vec::new();
                i += 1;
                loop {
                    match tokens.get(i) {
                        Some(Token::Close) => return (all, i + 1),
                        Some(Token::Comma) => i += 1,
                        Some(Token::Ident(_)) | Some(Token::Star) | Some(Token::Open) => {
                            let (inner, end) = read_paths(tokens, i);
                            for p in inner {
                                let mut full = prefix.clone();
                                full.extend(p.into_iter().filter(|s| s != "self"));
                                all.push(full);
                            }
                            // Skip `as alias`.
                            i = end;
                            if tokens.get(i) == Some(&Token::Ident("as".into())) {
                                i += 2;
                            }
                        }
                        _ => return (all, i),
                    }
                }
            }
            _ => return (vec![prefix], i),
        }
        if tokens.get(i) == Some(&Token::PathSep) {
            i += 1;
        } else {
            return (vec![prefix], i);
        }
    }
}

/// Every module path `file` refers to, made absolute.
fn references(file: &SourceFile, modules: &BTreeSet<Module>) -> Vec<Module> {
    let text = std::fs::read_to_string(&file.path).expect("source file");
    let tokens = tokens(&code_only(&text));
    let here: Module = file.module.clone();
    // What `super` names from this file.
    let parent: Module = here[..here.len().saturating_sub(1)].to_vec();
    let children: BTreeSet<String> = modules
        .iter()
        .filter(|m| m.len() == here.len() + 1 && m.starts_with(&here))
        .map(|m| m[here.len()].clone())
        .collect();
    let mut out = Vec::new();
    // Brace depths at which inline modules (`mod tests { … }`) open: in
    // them `super` names this file's module, not its parent.
    let (mut depth, mut inline_modules) = (0usize, Vec::new());
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            Token::Open => depth += 1,
            Token::Close => {
                if inline_modules.last() == Some(&depth) {
                    inline_modules.pop();
                }
                depth = depth.saturating_sub(1);
            }
            Token::Ident(kw)
                if kw == "mod"
                    && matches!(tokens.get(i + 1), Some(Token::Ident(_)))
                    && tokens.get(i + 2) == Some(&Token::Open) =>
            {
                inline_modules.push(depth + 1);
            }
            _ => {}
        }
        let in_use = i > 0 && tokens[i - 1] == Token::Ident("use".into());
        let Token::Ident(first) = &tokens[i] else {
            i += 1;
            continue;
        };
        let after_sep = i > 0 && tokens[i - 1] == Token::PathSep;
        let anchored = matches!(first.as_str(), "crate" | "super" | "self")
            && tokens.get(i + 1) == Some(&Token::PathSep);
        let child_use = in_use && children.contains(first);
        if after_sep || !(anchored || child_use) {
            i += 1;
            continue;
        }
        let (paths, end) = read_paths(&tokens, i);
        for path in paths {
            let mut absolute = match path[0].as_str() {
                "crate" => Vec::new(),
                "self" => here.clone(),
                "super" if inline_modules.is_empty() => parent.clone(),
                "super" => here.clone(),
                _ => {
                    let mut m = here.clone();
                    m.push(path[0].clone());
                    m
                }
            };
            let mut rest = &path[1..];
            // `super::super::…`
            while rest.first().is_some_and(|s| s == "super") {
                absolute.pop();
                rest = &rest[1..];
            }
            absolute.extend(rest.iter().cloned());
            out.push(absolute);
        }
        i = end.max(i + 1);
    }
    out
}

/// The longest prefix of `path` that is a module with its own file.
fn resolve(path: &[String], modules: &BTreeSet<Module>) -> Option<Module> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|m| modules.contains(m))
}

/// Strongly connected components (Tarjan), each sorted.
fn components<N: Ord + Clone>(graph: &BTreeMap<N, BTreeSet<N>>) -> Vec<Vec<N>> {
    struct State<N> {
        index: BTreeMap<N, usize>,
        low: BTreeMap<N, usize>,
        stack: Vec<N>,
        on_stack: BTreeSet<N>,
        out: Vec<Vec<N>>,
    }
    fn visit<N: Ord + Clone>(n: &N, graph: &BTreeMap<N, BTreeSet<N>>, s: &mut State<N>) {
        let i = s.index.len();
        s.index.insert(n.clone(), i);
        s.low.insert(n.clone(), i);
        s.stack.push(n.clone());
        s.on_stack.insert(n.clone());
        for m in graph.get(n).into_iter().flatten() {
            if !s.index.contains_key(m) {
                visit(m, graph, s);
                let low = s.low[n].min(s.low[m]);
                s.low.insert(n.clone(), low);
            } else if s.on_stack.contains(m) {
                let low = s.low[n].min(s.index[m]);
                s.low.insert(n.clone(), low);
            }
        }
        if s.low[n] == s.index[n] {
            let mut component = Vec::new();
            while let Some(m) = s.stack.pop() {
                s.on_stack.remove(&m);
                let done = m == *n;
                component.push(m);
                if done {
                    break;
                }
            }
            component.sort();
            s.out.push(component);
        }
    }
    let mut state = State {
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for n in graph.keys() {
        if !state.index.contains_key(n) {
            visit(n, graph, &mut state);
        }
    }
    state.out
}

/// The file graph: module → the modules it refers to (no self-edges).
fn file_graph() -> (Vec<SourceFile>, BTreeMap<Module, BTreeSet<Module>>) {
    let mut files = Vec::new();
    source_files(&src(), &mut files);
    let modules: BTreeSet<Module> = files.iter().map(|f| f.module.clone()).collect();
    let mut graph = BTreeMap::new();
    for file in &files {
        let targets: BTreeSet<Module> = references(file, &modules)
            .iter()
            .filter_map(|p| resolve(p, &modules))
            .filter(|m| *m != file.module)
            .collect();
        graph.insert(file.module.clone(), targets);
    }
    (files, graph)
}

fn top_level_graph(
    graph: &BTreeMap<Module, BTreeSet<Module>>,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, targets) in graph {
        let Some(a) = from.first() else { continue };
        if a == "main" || a == "lib" {
            continue;
        }
        let entry = top.entry(a.clone()).or_default();
        for to in targets {
            if let Some(b) = to.first()
                && b != a
            {
                entry.insert(b.clone());
            }
        }
    }
    top
}

#[test]
fn the_top_level_modules_form_an_acyclic_graph() {
    let (_, graph) = file_graph();
    let top = top_level_graph(&graph);
    assert!(top.len() >= 10, "too few modules found: {:?}", top.keys());
    let cycles: Vec<Vec<String>> = components(&top)
        .into_iter()
        .filter(|c| c.len() > 1)
        .collect();
    let edges_in = |c: &Vec<String>| {
        c.iter()
            .flat_map(|a| {
                top[a]
                    .iter()
                    .filter(|b| c.contains(b))
                    .map(move |b| format!("{a} -> {b}"))
            })
            .collect::<Vec<_>>()
    };
    assert!(
        cycles.is_empty(),
        "import cycles between top-level modules: {:?}",
        cycles.iter().map(edges_in).collect::<Vec<_>>()
    );
}

#[test]
fn no_component_imports_the_app_layer_and_base_imports_nothing() {
    let (_, graph) = file_graph();
    let top = top_level_graph(&graph);
    assert!(top.contains_key("app") && top.contains_key("base"));
    let into_app: Vec<&String> = top
        .iter()
        .filter(|(from, to)| *from != "app" && to.contains("app"))
        .map(|(from, _)| from)
        .collect();
    assert!(
        into_app.is_empty(),
        "components importing app: {into_app:?}"
    );
    assert!(top["base"].is_empty(), "base imports {:?}", top["base"]);
}

#[test]
fn no_import_cycle_spans_more_than_one_folder() {
    let (files, graph) = file_graph();
    let folder: BTreeMap<&Module, PathBuf> = files
        .iter()
        .map(|f| {
            (
                &f.module,
                f.path.parent().expect("in a folder").to_path_buf(),
            )
        })
        .collect();
    let mut spanning = Vec::new();
    for component in components(&graph) {
        let folders: BTreeSet<&PathBuf> = component.iter().map(|m| &folder[m]).collect();
        if folders.len() > 1 {
            let names: Vec<String> = component.iter().map(|m| m.join("::")).collect();
            spanning.push(names);
        }
    }
    assert!(
        spanning.is_empty(),
        "import cycles across folders: {spanning:?}"
    );
}

/// The checker itself: it must see the kinds of reference the rules are
/// about, or the tests above could pass on a graph with no edges.
#[test]
fn the_reader_sees_use_trees_inline_paths_and_child_reexports() {
    let (_, graph) = file_graph();
    let edges = |m: &str| -> BTreeSet<String> {
        let module: Module = m.split("::").map(String::from).collect();
        graph[&module].iter().map(|t| t.join("::")).collect()
    };
    // `use crate::…::{…}` groups and `pub use child::…` re-exports.
    let daemon = edges("app::daemon");
    for expected in ["stream", "web", "supervisor", "transport"] {
        assert!(
            daemon.contains(expected),
            "app::daemon -> {expected}: {daemon:?}"
        );
    }
    let stream = edges("stream");
    assert!(stream.contains("stream::pipeline"), "{stream:?}");
    // A path in a comment is not an import.
    assert_eq!(
        tokens(&code_only("// crate::app::x\nlet s = \"crate::app\";")),
        vec![
            Token::Ident("let".into()),
            Token::Ident("s".into()),
            Token::Other,
            Token::Semi,
        ]
    );
}
