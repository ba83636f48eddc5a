//! Every environment variable a Signet program reads is documented in
//! `docs/configuration.md`, for the programs that read it, and every variable
//! documented there is read.
//!
//! The sources of every workspace member's `src/` are parsed (syn) and these
//! reads are found:
//! - `env::var(X)` and `env::var_os(X)` (any path ending so), and
//!   `try_from_env(X)` / `from_env(X)` (tracing's `EnvFilter`);
//!   `try_from_default_env()` / `from_default_env()` read `RUST_LOG`;
//! - clap's `env = "X"` in `#[arg(…)]` / `#[clap(…)]` (a bare `env` is the
//!   field's name in capitals);
//! - where X is not a string literal, it is resolved, or the test fails
//!   saying where (it never guesses): a name bound by `for NAME in [..]` over
//!   literals or over a `const` array of literals (the host's `VARIABLES`
//!   table); a parameter of the enclosing function (then every call of that
//!   function in the crate with a literal there); a parameter of a closure
//!   passed to a function (then every call of that function's parameter with
//!   a literal inside it: `Credentials::from_env(|k| std::env::var(k))`).
//!
//! Code under `#[cfg(test)]` is left out, and so are names starting with
//! `SIGNET_TEST_` or `SIGNET_REQUIRE_` (the test suite's switches; the rule
//! is written in docs/configuration.md).
//!
//! A read in a library crate counts for every program of the workspace that
//! depends on it. The documentation is the table rows of
//! docs/configuration.md whose first cell is a variable in backticks and
//! whose second lists the programs that read it, in backticks.

// A test: a broken workspace or document fails it loudly.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use syn::visit::Visit;

const DOC: &str = "docs/configuration.md";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the host crate is in the workspace")
        .to_path_buf()
}

fn exempt(name: &str) -> bool {
    name.starts_with("SIGNET_TEST_") || name.starts_with("SIGNET_REQUIRE_")
}

// ---------------------------------------------------------------------------
// What a variable name comes from, before resolution.

#[derive(Clone, Debug, PartialEq)]
enum Source {
    Lits(Vec<String>),
    /// A `const` array of literals, by name.
    Const(String),
    /// Parameter `index` of function `function`.
    FnParam {
        function: String,
        index: usize,
    },
    /// The closure passed as argument `index` of a call of `callee`.
    ClosureArg {
        callee: String,
        index: usize,
    },
}

#[derive(Clone, Debug)]
struct Read {
    source: Source,
    file: String,
    line_hint: String,
}

/// What one crate's sources say.
#[derive(Default, Debug)]
struct Scan {
    reads: Vec<Read>,
    /// const NAME: [&str] = [literals]
    consts: BTreeMap<String, Vec<String>>,
    /// Calls by the callee's last path segment: the literal arguments.
    calls: Vec<(String, Vec<Option<String>>)>,
    /// Every function of the crate.
    functions: Vec<Function>,
    problems: Vec<String>,
}

/// A function: its name, its parameters' names (no `self`), and the literal
/// first arguments of calls of each parameter inside its body.
#[derive(Debug, Default)]
struct Function {
    name: String,
    params: Vec<String>,
    param_calls: BTreeMap<String, Vec<String>>,
}

/// Variable -> (file, how) of each read, in one crate.
type CrateReads = BTreeMap<String, BTreeSet<(String, String)>>;

/// Variable -> (the programs that read it, where).
type WorkspaceReads = BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)>;

#[derive(Clone, Debug)]
enum Binding {
    Name(String, Source),
}

struct Visitor<'a> {
    scan: &'a mut Scan,
    file: String,
    scopes: Vec<Binding>,
    /// The functions being visited, innermost last.
    functions: Vec<Function>,
    /// The call a closure being visited is an argument of.
    pending_closure: Option<(String, usize)>,
}

fn lit_str(expr: &syn::Expr) -> Option<String> {
    match expr {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(s),
            ..
        }) => Some(s.value()),
        syn::Expr::Reference(r) => lit_str(&r.expr),
        syn::Expr::Paren(p) => lit_str(&p.expr),
        _ => None,
    }
}

fn array_lits(expr: &syn::Expr) -> Option<Vec<String>> {
    match expr {
        syn::Expr::Array(a) => a.elems.iter().map(lit_str).collect(),
        syn::Expr::Reference(r) => array_lits(&r.expr),
        _ => None,
    }
}

fn single_ident(expr: &syn::Expr) -> Option<String> {
    match expr {
        syn::Expr::Path(p) if p.qself.is_none() && p.path.segments.len() == 1 => {
            Some(p.path.segments[0].ident.to_string())
        }
        syn::Expr::Reference(r) => single_ident(&r.expr),
        syn::Expr::Paren(p) => single_ident(&p.expr),
        _ => None,
    }
}

fn last_segment(expr: &syn::Expr) -> Option<(String, Vec<String>)> {
    match expr {
        syn::Expr::Path(p) => {
            let segs: Vec<String> = p
                .path
                .segments
                .iter()
                .map(|s| s.ident.to_string())
                .collect();
            Some((segs.last()?.clone(), segs))
        }
        _ => None,
    }
}

fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.meta
                .require_list()
                .is_ok_and(|l| l.tokens.to_string().trim() == "test")
    })
}

fn pat_names(pat: &syn::Pat, out: &mut Vec<String>) {
    match pat {
        syn::Pat::Ident(i) => out.push(i.ident.to_string()),
        syn::Pat::Type(t) => pat_names(&t.pat, out),
        syn::Pat::Reference(r) => pat_names(&r.pat, out),
        syn::Pat::Tuple(t) => t.elems.iter().for_each(|p| pat_names(p, out)),
        _ => out.push(String::from("_")),
    }
}

impl Visitor<'_> {
    fn lookup(&self, name: &str) -> Option<Source> {
        self.scopes.iter().rev().find_map(|b| match b {
            Binding::Name(n, s) if n == name => Some(s.clone()),
            Binding::Name(..) => None,
        })
    }

    fn function_param(&self, name: &str) -> Option<Source> {
        let function = self.functions.last()?;
        let index = function.params.iter().position(|p| p == name)?;
        Some(Source::FnParam {
            function: function.name.clone(),
            index,
        })
    }

    fn read(&mut self, arg: &syn::Expr, what: &str) {
        let source = if let Some(s) = lit_str(arg) {
            Some(Source::Lits(vec![s]))
        } else if let Some(name) = single_ident(arg) {
            self.lookup(&name).or_else(|| self.function_param(&name))
        } else {
            None
        };
        match source {
            Some(source) => self.scan.reads.push(Read {
                source,
                file: self.file.clone(),
                line_hint: what.to_owned(),
            }),
            None => self.scan.problems.push(format!(
                "{}: cannot tell which variable `{what}` reads (argument `{}`)",
                self.file,
                quote::ToTokens::to_token_stream(arg)
            )),
        }
    }

    fn lits(&mut self, names: Vec<String>, what: &str) {
        self.scan.reads.push(Read {
            source: Source::Lits(names),
            file: self.file.clone(),
            line_hint: what.to_owned(),
        });
    }

    fn visit_fn(&mut self, name: String, sig: &syn::Signature, body: &syn::Block) {
        let mut params = Vec::new();
        for input in &sig.inputs {
            if let syn::FnArg::Typed(t) = input {
                let mut names = Vec::new();
                pat_names(&t.pat, &mut names);
                params.push(names.first().cloned().unwrap_or_default());
            }
        }
        self.functions.push(Function {
            name,
            params,
            param_calls: BTreeMap::new(),
        });
        let saved = std::mem::take(&mut self.scopes);
        self.visit_block(body);
        self.scopes = saved;
        if let Some(done) = self.functions.pop() {
            self.scan.functions.push(done);
        }
    }

    fn clap_env(&mut self, field: &syn::Field) {
        for attr in &field.attrs {
            if !(attr.path().is_ident("arg") || attr.path().is_ident("clap")) {
                continue;
            }
            let Ok(list) = attr.meta.require_list() else {
                continue;
            };
            let tokens: Vec<proc_macro2::TokenTree> = list.tokens.clone().into_iter().collect();
            for (i, t) in tokens.iter().enumerate() {
                let proc_macro2::TokenTree::Ident(id) = t else {
                    continue;
                };
                if id != "env" {
                    continue;
                }
                let before_ok = i == 0
                    || matches!(&tokens[i - 1], proc_macro2::TokenTree::Punct(p) if p.as_char() == ',');
                if !before_ok {
                    continue;
                }
                match (tokens.get(i + 1), tokens.get(i + 2)) {
                    (
                        Some(proc_macro2::TokenTree::Punct(p)),
                        Some(proc_macro2::TokenTree::Literal(l)),
                    ) if p.as_char() == '=' => {
                        let text = l.to_string();
                        let name = text.trim_matches('"').to_owned();
                        self.lits(vec![name], "clap env");
                    }
                    (None, _) | (Some(proc_macro2::TokenTree::Punct(_)), _) => {
                        let name = field
                            .ident
                            .as_ref()
                            .map(|f| f.to_string().to_uppercase())
                            .unwrap_or_default();
                        self.lits(vec![name], "clap env (from the field name)");
                    }
                    _ => {}
                }
            }
        }
    }
}

impl<'ast> Visit<'ast> for Visitor<'_> {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        let attrs: &[syn::Attribute] = match item {
            syn::Item::Fn(i) => &i.attrs,
            syn::Item::Mod(i) => &i.attrs,
            syn::Item::Impl(i) => &i.attrs,
            syn::Item::Const(i) => &i.attrs,
            syn::Item::Struct(i) => &i.attrs,
            syn::Item::Static(i) => &i.attrs,
            syn::Item::Use(i) => &i.attrs,
            _ => &[],
        };
        if is_cfg_test(attrs) {
            return;
        }
        syn::visit::visit_item(self, item);
    }

    fn visit_item_const(&mut self, item: &'ast syn::ItemConst) {
        if let Some(lits) = array_lits(&item.expr) {
            self.scan.consts.insert(item.ident.to_string(), lits);
        }
        syn::visit::visit_item_const(self, item);
    }

    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        self.visit_fn(item.sig.ident.to_string(), &item.sig, &item.block);
    }

    fn visit_impl_item_fn(&mut self, item: &'ast syn::ImplItemFn) {
        if is_cfg_test(&item.attrs) {
            return;
        }
        self.visit_fn(item.sig.ident.to_string(), &item.sig, &item.block);
    }

    fn visit_field(&mut self, field: &'ast syn::Field) {
        self.clap_env(field);
        syn::visit::visit_field(self, field);
    }

    fn visit_expr_for_loop(&mut self, e: &'ast syn::ExprForLoop) {
        self.visit_expr(&e.expr);
        let mut names = Vec::new();
        pat_names(&e.pat, &mut names);
        let source = array_lits(&e.expr)
            .map(Source::Lits)
            .or_else(|| single_ident(&e.expr).map(Source::Const));
        let pushed = match (names.as_slice(), source) {
            ([name], Some(source)) => {
                self.scopes.push(Binding::Name(name.clone(), source));
                true
            }
            _ => false,
        };
        self.visit_block(&e.body);
        if pushed {
            self.scopes.pop();
        }
    }

    fn visit_expr_closure(&mut self, e: &'ast syn::ExprClosure) {
        let pending = self.pending_closure.take();
        let mut pushed = 0;
        if let Some((callee, index)) = pending {
            for input in &e.inputs {
                let mut names = Vec::new();
                pat_names(input, &mut names);
                for n in names {
                    self.scopes.push(Binding::Name(
                        n,
                        Source::ClosureArg {
                            callee: callee.clone(),
                            index,
                        },
                    ));
                    pushed += 1;
                }
            }
        }
        self.visit_expr(&e.body);
        for _ in 0..pushed {
            self.scopes.pop();
        }
    }

    fn visit_expr_call(&mut self, e: &'ast syn::ExprCall) {
        if let Some((last, segs)) = last_segment(&e.func) {
            let literal_args: Vec<Option<String>> = e.args.iter().map(lit_str).collect();
            self.scan.calls.push((last.clone(), literal_args.clone()));
            // A call of one of the enclosing function's parameters.
            if segs.len() == 1 {
                if let Some(f) = self.functions.last_mut() {
                    if f.params.contains(&last) {
                        if let Some(Some(lit)) = literal_args.first() {
                            f.param_calls
                                .entry(last.clone())
                                .or_default()
                                .push(lit.clone());
                        }
                    }
                }
            }
            let env_path = segs.len() >= 2 && segs[segs.len() - 2] == "env";
            match last.as_str() {
                "var" | "var_os" if env_path => {
                    if let Some(arg) = e.args.first() {
                        self.read(arg, &format!("env::{last}"));
                    }
                }
                "try_from_env" | "from_env" if e.args.first().and_then(lit_str).is_some() => {
                    if let Some(arg) = e.args.first() {
                        self.read(arg, &last);
                    }
                }
                "try_from_default_env" | "from_default_env" => {
                    self.lits(vec!["RUST_LOG".to_owned()], &last);
                }
                _ => {}
            }
            self.visit_expr(&e.func);
            for (i, arg) in e.args.iter().enumerate() {
                if matches!(arg, syn::Expr::Closure(_)) {
                    self.pending_closure = Some((last.clone(), i));
                }
                self.visit_expr(arg);
                self.pending_closure = None;
            }
            return;
        }
        syn::visit::visit_expr_call(self, e);
    }

    fn visit_expr_method_call(&mut self, e: &'ast syn::ExprMethodCall) {
        let name = e.method.to_string();
        if name == "try_from_default_env" || name == "from_default_env" {
            self.lits(vec!["RUST_LOG".to_owned()], &name);
        }
        self.visit_expr(&e.receiver);
        for (i, arg) in e.args.iter().enumerate() {
            if matches!(arg, syn::Expr::Closure(_)) {
                self.pending_closure = Some((name.clone(), i));
            }
            self.visit_expr(arg);
            self.pending_closure = None;
        }
    }
}

/// Scans the sources of one crate (`files`: path for messages, text).
fn scan_sources(files: &[(String, String)]) -> Scan {
    let mut scan = Scan::default();
    for (path, text) in files {
        let file = match syn::parse_file(text) {
            Ok(f) => f,
            Err(e) => {
                scan.problems.push(format!("{path}: does not parse: {e}"));
                continue;
            }
        };
        let mut v = Visitor {
            scan: &mut scan,
            file: path.clone(),
            scopes: Vec::new(),
            functions: Vec::new(),
            pending_closure: None,
        };
        v.visit_file(&file);
    }
    scan
}

/// The variables a crate reads: name -> (file, how) of each read.
fn resolve(scan: &Scan) -> Result<CrateReads, Vec<String>> {
    let mut out = CrateReads::new();
    let mut problems = scan.problems.clone();
    for read in &scan.reads {
        let names: Vec<String> = match &read.source {
            Source::Lits(l) => l.clone(),
            Source::Const(c) => match scan.consts.get(c) {
                Some(l) => l.clone(),
                None => {
                    problems.push(format!("{}: `for … in {c}` with env::var: {c} is not a const array of string literals", read.file));
                    continue;
                }
            },
            Source::FnParam { function, index } => {
                let lits: Vec<String> = scan
                    .calls
                    .iter()
                    .filter(|(callee, _)| callee == function)
                    .filter_map(|(_, args)| args.get(*index).cloned().flatten())
                    .collect();
                let all_calls = scan
                    .calls
                    .iter()
                    .filter(|(callee, _)| callee == function)
                    .count();
                if lits.is_empty() || lits.len() != all_calls {
                    problems.push(format!(
                        "{}: `{}` reads the variable its parameter {index} names, but {} of its {all_calls} calls pass a string literal there",
                        read.file, function, lits.len()
                    ));
                }
                lits
            }
            Source::ClosureArg { callee, index } => {
                let lits: Vec<String> = scan
                    .functions
                    .iter()
                    .filter(|f| &f.name == callee)
                    .filter_map(|f| f.param_calls.get(f.params.get(*index)?).cloned())
                    .flatten()
                    .collect();
                if lits.is_empty() {
                    problems.push(format!(
                        "{}: a closure passed to `{callee}` reads variables, but `{callee}` never calls it with a string literal",
                        read.file
                    ));
                }
                lits
            }
        };
        for n in names {
            if !exempt(&n) {
                out.entry(n)
                    .or_default()
                    .insert((read.file.clone(), read.line_hint.clone()));
            }
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

// ---------------------------------------------------------------------------
// The workspace: crates, their programs and who depends on whom.

struct Member {
    dir: PathBuf,
    bins: Vec<String>,
    path_deps: Vec<PathBuf>,
}

fn members(root: &Path) -> Vec<Member> {
    let manifest: toml::Table = fs::read_to_string(root.join("Cargo.toml"))
        .expect("Cargo.toml")
        .parse()
        .expect("Cargo.toml parses");
    let workspace = manifest["workspace"].as_table().expect("[workspace]");
    let shared = workspace
        .get("dependencies")
        .and_then(toml::Value::as_table)
        .cloned()
        .unwrap_or_default();
    let mut out = Vec::new();
    for m in workspace["members"].as_array().expect("members") {
        let dir = root.join(m.as_str().expect("a member path"));
        let krate: toml::Table = fs::read_to_string(dir.join("Cargo.toml"))
            .expect("member Cargo.toml")
            .parse()
            .expect("member Cargo.toml parses");
        let name = krate["package"]["name"]
            .as_str()
            .expect("package name")
            .to_owned();
        let mut bins: Vec<String> = krate
            .get("bin")
            .and_then(toml::Value::as_array)
            .map(|bins| {
                bins.iter()
                    .filter_map(|b| {
                        b.get("name")
                            .and_then(toml::Value::as_str)
                            .map(str::to_owned)
                    })
                    .collect()
            })
            .unwrap_or_default();
        if bins.is_empty() && dir.join("src/main.rs").exists() {
            bins.push(name.clone());
        }
        let mut path_deps = Vec::new();
        if let Some(deps) = krate.get("dependencies").and_then(toml::Value::as_table) {
            for (dep, spec) in deps {
                let path = match spec.get("path").and_then(toml::Value::as_str) {
                    Some(p) => Some(dir.join(p)),
                    None if spec.get("workspace").and_then(toml::Value::as_bool) == Some(true) => {
                        shared
                            .get(dep)
                            .and_then(|s| s.get("path"))
                            .and_then(toml::Value::as_str)
                            .map(|p| root.join(p))
                    }
                    None => None,
                };
                if let Some(p) = path {
                    path_deps.push(p.canonicalize().expect("a path dependency exists"));
                }
            }
        }
        out.push(Member {
            dir: dir.canonicalize().expect("member dir"),
            bins,
            path_deps,
        });
    }
    out
}

/// The programs that run a member's code: its own, and those of every member
/// that depends on it (transitively).
fn programs_of(members: &[Member], member: &Member) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = member.bins.iter().cloned().collect();
    for other in members {
        if other.dir != member.dir && depends_on(members, other, &member.dir, &mut Vec::new()) {
            out.extend(other.bins.iter().cloned());
        }
    }
    out
}

fn depends_on(members: &[Member], from: &Member, target: &Path, seen: &mut Vec<PathBuf>) -> bool {
    for dep in &from.path_deps {
        if dep == target {
            return true;
        }
        if seen.contains(dep) {
            continue;
        }
        seen.push(dep.clone());
        if let Some(m) = members.iter().find(|m| &m.dir == dep) {
            if depends_on(members, m, target, seen) {
                return true;
            }
        }
    }
    false
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The files of a crate's own programs only: `src/main.rs`, `src/bin/*`, and
/// the modules `src/main.rs` declares; all of `src/` when there is no
/// library. A read there is made by the crate's programs, never by a crate
/// that depends on its library.
fn program_only_files(src: &Path, files: &[PathBuf]) -> BTreeSet<PathBuf> {
    if !src.join("lib.rs").exists() {
        return files.iter().cloned().collect();
    }
    let mut out: BTreeSet<PathBuf> = files
        .iter()
        .filter(|f| f.starts_with(src.join("bin")))
        .cloned()
        .collect();
    let main = src.join("main.rs");
    if main.exists() {
        out.insert(main.clone());
        if let Ok(parsed) = syn::parse_file(&fs::read_to_string(&main).unwrap_or_default()) {
            for item in parsed.items {
                if let syn::Item::Mod(m) = item {
                    if m.content.is_none() {
                        let name = m.ident.to_string();
                        out.insert(src.join(format!("{name}.rs")));
                        out.extend(
                            files
                                .iter()
                                .filter(|f| f.starts_with(src.join(&name)))
                                .cloned(),
                        );
                    }
                }
            }
        }
    }
    out
}

/// Files of `src/` declared only under `#[cfg(test)]` (`#[cfg(test)] mod x;`).
fn test_only_files(files: &[PathBuf]) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    for path in files {
        let Ok(parsed) = syn::parse_file(&fs::read_to_string(path).unwrap_or_default()) else {
            continue;
        };
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let dir = path.parent().unwrap_or(Path::new("."));
        let base = if ["mod", "lib", "main"].contains(&stem) {
            dir.to_path_buf()
        } else {
            dir.join(stem)
        };
        for item in parsed.items {
            if let syn::Item::Mod(m) = item {
                if m.content.is_none() && is_cfg_test(&m.attrs) {
                    let name = m.ident.to_string();
                    out.insert(base.join(format!("{name}.rs")));
                    out.insert(base.join(&name).join("mod.rs"));
                }
            }
        }
    }
    out
}

/// Variable -> (programs that read it, where).
fn reads_of_the_workspace(root: &Path) -> (WorkspaceReads, Vec<String>) {
    let members = members(root);
    let mut out = WorkspaceReads::new();
    let mut problems = Vec::new();
    for member in &members {
        let src = member.dir.join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let skip = test_only_files(&files);
        let own = program_only_files(&src, &files);
        let root = root.canonicalize().expect("root");
        let shown = |f: &Path| f.strip_prefix(&root).unwrap_or(f).display().to_string();
        let own: BTreeSet<String> = own.iter().map(|f| shown(f)).collect();
        let sources: Vec<(String, String)> = files
            .iter()
            .filter(|f| !skip.contains(*f))
            .map(|f| (shown(f), fs::read_to_string(f).expect("a source file")))
            .collect();
        let library_programs = programs_of(&members, member);
        let own_programs: BTreeSet<String> = member.bins.iter().cloned().collect();
        match resolve(&scan_sources(&sources)) {
            Ok(reads) => {
                for (name, wheres) in reads {
                    for (file, how) in wheres {
                        let programs = if own.contains(&file) {
                            &own_programs
                        } else {
                            &library_programs
                        };
                        if programs.is_empty() {
                            problems.push(format!("{name} is read in {file} ({how}), which no program of the workspace runs"));
                            continue;
                        }
                        let e = out.entry(name.clone()).or_default();
                        e.0.extend(programs.iter().cloned());
                        e.1.insert(format!("{file} ({how})"));
                    }
                }
            }
            Err(p) => problems.extend(p),
        }
    }
    (out, problems)
}

// ---------------------------------------------------------------------------
// The documentation.

/// Variable -> programs named in its row (rows whose first cell is `NAME`).
fn documented(doc: &str) -> Result<BTreeMap<String, BTreeSet<String>>, Vec<String>> {
    let mut out = BTreeMap::new();
    let mut problems = Vec::new();
    for (i, line) in doc.lines().enumerate() {
        let cells: Vec<&str> = line.trim().split('|').map(str::trim).collect();
        if cells.len() < 4 || !cells[0].is_empty() {
            continue;
        }
        let first = cells[1];
        let Some(name) = first.strip_prefix('`').and_then(|s| s.strip_suffix('`')) else {
            continue;
        };
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        {
            continue;
        }
        let programs: BTreeSet<String> = cells[2]
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect();
        if programs.is_empty() {
            problems.push(format!(
                "{DOC}:{}: `{name}` names no program (in backticks) in its second column",
                i + 1
            ));
        }
        if out.insert(name.to_owned(), programs).is_some() {
            problems.push(format!("{DOC}:{}: `{name}` has two rows", i + 1));
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// Every difference between what is read and what is documented.
fn compare(reads: &WorkspaceReads, docs: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, (programs, wheres)) in reads {
        match docs.get(name) {
            None => problems.push(format!(
                "read but not documented in {DOC}: {name} (by {}; {})",
                programs.iter().cloned().collect::<Vec<_>>().join(", "),
                wheres.iter().cloned().collect::<Vec<_>>().join("; ")
            )),
            Some(documented) if documented != programs => problems.push(format!(
                "{name}: {DOC} says it is read by {}, but it is read by {}",
                documented.iter().cloned().collect::<Vec<_>>().join(", "),
                programs.iter().cloned().collect::<Vec<_>>().join(", ")
            )),
            Some(_) => {}
        }
    }
    for name in docs.keys() {
        if exempt(name) {
            problems.push(format!("{name} is documented in {DOC}, but test switches (SIGNET_TEST_*, SIGNET_REQUIRE_*) are not listed there"));
        } else if !reads.contains_key(name) {
            problems.push(format!(
                "documented in {DOC} but read by no program: {name}"
            ));
        }
    }
    problems
}

#[test]
fn every_variable_read_is_documented_and_every_documented_one_is_read() {
    let root = workspace_root();
    let (reads, problems) = reads_of_the_workspace(&root);
    assert!(
        problems.is_empty(),
        "the scan cannot decide:\n{}",
        problems.join("\n")
    );
    // The scan finds the reads it is meant to (if it found nothing, the
    // comparison below would be vacuous).
    for (name, program) in [
        ("SIGNET_DATABASE_URL", "signet-host"),  // the VARIABLES table
        ("INTERNAL_API_KEY", "signet-enclave"),  // fn secret(name, ..)
        ("SIGNET_KMS_KEY_ID", "signet-enclave"), // clap env
        ("AWS_SESSION_TOKEN", "signet-host"),    // a closure passed to from_env
        ("SOFTHSM2_CONF", "signet-host"),        // for name in [..]
        ("SIGNET_LOG", "signet-enclave"),        // EnvFilter::try_from_env
        ("RUST_LOG", "signet-kms-fake"),         // a library's read
        ("SIGNET_URL", "signet"),                // the CLI
    ] {
        assert!(
            reads.get(name).is_some_and(|(p, _)| p.contains(program)),
            "the scan misses {name} read by {program}: {reads:?}"
        );
    }
    let doc = fs::read_to_string(root.join(DOC)).expect("docs/configuration.md");
    let docs = documented(&doc).unwrap_or_else(|p| panic!("{}", p.join("\n")));
    let problems = compare(&reads, &docs);
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

#[test]
fn refuses_a_variable_read_but_not_documented() {
    let root = workspace_root();
    let (reads, _) = reads_of_the_workspace(&root);
    let doc = fs::read_to_string(root.join(DOC)).expect("docs/configuration.md");
    let without: String = doc
        .lines()
        .filter(|l| !l.trim_start().starts_with("| `TICKET_TTL_SECONDS`"))
        .map(|l| format!("{l}\n"))
        .collect();
    let problems = compare(&reads, &documented(&without).expect("parses"));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with(
            "read but not documented in docs/configuration.md: TICKET_TTL_SECONDS (by signet-host;"
        ),
        "{problems:?}"
    );
}

#[test]
fn refuses_a_documented_variable_that_nothing_reads() {
    let reads = BTreeMap::from([(
        "A_VAR".to_owned(),
        (BTreeSet::from(["signet-host".to_owned()]), BTreeSet::new()),
    )]);
    let doc = "| variable | read by | default | what |\n|---|---|---|---|\n| `A_VAR` | `signet-host` | – | x |\n| `GHOST_VAR` | `signet-host` | – | y |\n| `SIGNET_TEST_X` | `signet-host` | – | z |\n";
    let problems = compare(&reads, &documented(doc).expect("parses"));
    assert_eq!(
        problems,
        [
            "documented in docs/configuration.md but read by no program: GHOST_VAR",
            "SIGNET_TEST_X is documented in docs/configuration.md, but test switches (SIGNET_TEST_*, SIGNET_REQUIRE_*) are not listed there"
        ]
    );
}

#[test]
fn refuses_a_row_that_names_the_wrong_programs() {
    let reads = BTreeMap::from([(
        "A_VAR".to_owned(),
        (
            BTreeSet::from(["signet-host".to_owned(), "signet-enclave".to_owned()]),
            BTreeSet::new(),
        ),
    )]);
    let doc = "| `A_VAR` | `signet-host` | – | x |\n";
    let problems = compare(&reads, &documented(doc).expect("parses"));
    assert_eq!(
        problems,
        ["A_VAR: docs/configuration.md says it is read by signet-host, but it is read by signet-enclave, signet-host"]
    );
    assert!(
        documented("| `A_VAR` | host | – | x |\n").is_err(),
        "a row without a program in backticks"
    );
    assert!(
        documented("| `A_VAR` | `signet-host` | – | x |\n| `A_VAR` | `signet-host` | – | x |\n")
            .is_err(),
        "two rows"
    );
}

fn scanned(src: &str) -> Result<BTreeSet<String>, Vec<String>> {
    resolve(&scan_sources(&[("x.rs".to_owned(), src.to_owned())])).map(|m| m.into_keys().collect())
}

#[test]
fn the_scan_resolves_each_kind_of_read() {
    let src = r#"
        const TABLE: &[&str] = &["T_ONE", "T_TWO"];
        fn load() { for name in TABLE { let _ = std::env::var(name); } }
        fn direct() { let _ = std::env::var_os("DIRECT"); let _ = env::var("ALSO"); }
        fn secret(name: &str, dev: bool) -> Option<String> { std::env::var(name).ok() }
        fn uses() { secret("VIA_PARAM", true); secret("VIA_PARAM_2", false); }
        fn from_env(get: impl Fn(&str) -> Option<String>) { get("CLOSURE_A"); get("CLOSURE_B"); }
        fn creds() { Credentials::from_env(|k| std::env::var(k).ok()); }
        fn passthrough() { for n in ["P_ONE", "P_TWO"] { if let Ok(v) = std::env::var(n) { } } }
        fn log() { EnvFilter::try_from_env("FILTER"); EnvFilter::try_from_default_env(); }
        #[derive(clap::Parser)]
        struct Args {
            #[arg(long, env = "CLAP_NAMED", hide_env_values = true)]
            a: String,
            #[arg(long, env)]
            from_field: String,
            #[arg(long)]
            not_env: String,
        }
        #[cfg(test)]
        mod tests { fn t() { let _ = std::env::var("ONLY_IN_TESTS"); } }
        fn switches() { let _ = std::env::var("SIGNET_TEST_POSTGRES_URL"); let _ = std::env::var("SIGNET_REQUIRE_X"); }
        fn not_env() { let m = std::collections::HashMap::<&str, &str>::new(); m.get("NOT_A_READ"); env!("CARGO_PKG_VERSION"); }
    "#;
    let names = scanned(src).expect("resolves");
    let want: BTreeSet<String> = [
        "T_ONE",
        "T_TWO",
        "DIRECT",
        "ALSO",
        "VIA_PARAM",
        "VIA_PARAM_2",
        "CLOSURE_A",
        "CLOSURE_B",
        "P_ONE",
        "P_TWO",
        "FILTER",
        "RUST_LOG",
        "CLAP_NAMED",
        "FROM_FIELD",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(names, want);
}

#[test]
fn refuses_a_read_it_cannot_resolve() {
    let problems =
        scanned(r#"fn f() { let name = format!("A_{}", 1); let _ = std::env::var(name); }"#)
            .unwrap_err();
    assert!(
        problems[0].contains("cannot tell which variable `env::var` reads"),
        "{problems:?}"
    );
    let problems = scanned(r#"fn secret(n: &str) { let _ = std::env::var(n); } fn g(x: &str) { secret("A"); secret(x); }"#).unwrap_err();
    assert!(
        problems[0].contains("1 of its 2 calls pass a string literal"),
        "{problems:?}"
    );
    let problems =
        scanned(r#"fn f() { for n in OTHER { let _ = std::env::var(n); } }"#).unwrap_err();
    assert!(
        problems[0].contains("OTHER is not a const array of string literals"),
        "{problems:?}"
    );
}
