//! Imports flow one way (docs/architecture.md): within core, host and
//! firmware no source file imports, directly or through others, a file
//! that imports it. A `mod` declaration or a `pub use` re-export is not
//! an import; a `use` of a child module, or a path through `crate::` or
//! `super::`, outside comments and `#[cfg(test)]`/`#[cfg(doc)]` code, is.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module a file defines: `a/b.rs` and `a/b/mod.rs` are `a::b`.
fn module_of(root: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(root).unwrap().with_extension("");
    let mut parts: Module = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The code of a file without comments and without `#[cfg(test)]` or
/// `#[cfg(doc)]` code: the item after either attribute is skipped (a
/// test- or doc-only `use` line), and a test `mod … {` ends the file (test
/// modules come last in this code base).
fn code(text: &str) -> String {
    let mut kept = Vec::new();
    let mut lines = text
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""));
    while let Some(line) = lines.next() {
        if !matches!(line.trim(), "#[cfg(test)]" | "#[cfg(doc)]") {
            kept.push(line);
            continue;
        }
        match lines.next().map(str::trim) {
            Some(item) if item.starts_with("mod ") && item.ends_with('{') => break,
            _ => {}
        }
    }
    kept.join("\n")
}

/// The identifier at the start of `s`, if any.
fn ident(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The paths `crate::…` and `super::…` in `code`, as (root, segments);
/// a brace group `crate::{a::b, c}` gives one path per item.
fn paths(code: &str) -> Vec<(&str, Vec<String>)> {
    let mut out = Vec::new();
    for root in ["crate::", "super::"] {
        for (at, _) in code.match_indices(root) {
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                continue;
            }
            let rest = &code[at + root.len()..];
            let mut segments = Vec::new();
            let mut s = rest;
            loop {
                let id = ident(s);
                if id.is_empty() {
                    break;
                }
                segments.push(id.to_owned());
                s = &s[id.len()..];
                match s.strip_prefix("::") {
                    Some(next) => s = next,
                    None => break,
                }
            }
            if let Some(group) = s.strip_prefix('{') {
                let inner = &group[..group.find('}').unwrap_or(group.len())];
                for item in inner.split(',') {
                    let mut path = segments.clone();
                    path.extend(item.trim().split("::").map(|p| ident(p.trim()).to_owned()));
                    out.push((root, path));
                }
            } else {
                out.push((root, segments));
            }
        }
    }
    out
}

/// Import edges between the modules of one crate's `src`.
fn graph(src: &Path) -> BTreeMap<Module, BTreeSet<Module>> {
    let mut files = Vec::new();
    sources(src, &mut files);
    let modules: BTreeMap<Module, PathBuf> = files
        .iter()
        .map(|f| (module_of(src, f), f.clone()))
        .collect();
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (module, file) in &modules {
        let code = code(&std::fs::read_to_string(file).unwrap());
        let targets = edges.entry(module.clone()).or_default();
        for (root, segments) in paths(&code) {
            let base: Module = if root == "crate::" {
                Vec::new()
            } else {
                module[..module.len().saturating_sub(1)].to_vec()
            };
            // The longest prefix that is a module of its own file, else
            // an item of the base module's file.
            let target = (1..=segments.len())
                .rev()
                .find_map(|i| {
                    let mut candidate = base.clone();
                    candidate.extend_from_slice(&segments[..i]);
                    modules.contains_key(&candidate).then_some(candidate)
                })
                .unwrap_or(base);
            if &target != module && !target.is_empty() {
                targets.insert(target);
            }
        }
        // `use child::…` of a module declared in this file (a `pub use`
        // re-export is the module's public face, like `mod`).
        for (at, _) in code.match_indices("use ") {
            let before = code[..at].trim_end();
            if before.ends_with("pub") || before.ends_with(')') {
                continue;
            }
            let mut child = module.clone();
            child.push(ident(&code[at + 4..]).to_owned());
            if modules.contains_key(&child) {
                targets.insert(child);
            }
        }
    }
    edges
}

/// The strongly connected components with more than one module
/// (Tarjan).
fn cycles(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<String>> {
    struct Tarjan<'a> {
        edges: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a Module, (usize, usize)>,
        stack: Vec<&'a Module>,
        on_stack: BTreeSet<&'a Module>,
        found: Vec<Vec<String>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, v: &'a Module) {
            let n = self.index.len();
            self.index.insert(v, (n, n));
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.edges.get(v).into_iter().flatten() {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.index[w].1.min(self.index[v].1);
                    self.index.get_mut(v).unwrap().1 = low;
                } else if self.on_stack.contains(w) {
                    let low = self.index[w].0.min(self.index[v].1);
                    self.index.get_mut(v).unwrap().1 = low;
                }
            }
            if self.index[v].0 == self.index[v].1 {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    component.push(w.join("::"));
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut tarjan = Tarjan {
        edges,
        index: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !tarjan.index.contains_key(v) {
            tarjan.visit(v);
        }
    }
    tarjan.found
}

#[test]
fn no_source_file_imports_a_file_that_imports_it() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for krate in ["core", "host", "firmware"] {
        let edges = graph(&workspace.join(krate).join("src"));
        assert!(edges.len() > 5, "{krate}: too few files found");
        assert_eq!(cycles(&edges), Vec::<Vec<String>>::new(), "{krate}");
    }
}

#[test]
fn a_planted_cycle_is_found() {
    let edge = |a: &str, b: &str| (vec![a.to_owned()], BTreeSet::from([vec![b.to_owned()]]));
    let edges = BTreeMap::from([edge("a", "b"), edge("b", "c"), edge("c", "a")]);
    assert_eq!(cycles(&edges), [["a", "b", "c"]]);
    assert_eq!(paths("use crate::{x::Y, z};").len(), 2);
}
