#!/usr/bin/env python3
"""Fails if the Signet module can deploy a host whose database is broken or
can lose its data.

Reads the module (every *.tf in a directory) with python-hcl2, evaluates the
expressions that matter for both values of var.enable_rds with a small
evaluator of the HCL expression language (variables, locals, conditionals,
arithmetic, string templates, a few functions; any other resource attribute
stays an opaque reference), renders user_data.sh.tftpl with the values the
module passes to templatefile(), and runs the rendered signet-database-env
script (the one the host unit runs before each start) in a sandbox with stub
`aws` and `curl` commands. It checks:

PostgreSQL (enable_rds = true)
- the RDS instance exists only then, with manage_master_user_password = true
  and no `password` argument, and refuses plain connections (rds.force_ssl);
- SIGNET_DATABASE_URL reaches the host's environment (an EnvironmentFile of
  signet-host.service written by an ExecStartPre=+ script before each start),
  as postgres://USER:PASSWORD@<the RDS address>:PORT/DB?sslmode=verify-full
  &sslrootcert=FILE, with the credentials of the RDS-managed secret
  (percent-encoded) and FILE an existing PEM bundle that the instance fetched;
- no password in plain text: no aws_secretsmanager_secret_version data source,
  no password, secret string or random_password in what templatefile() gets
  or in any output (module and example), no credentials in the rendered user
  data, the generated URL only in a file under /run, no `set -x`;
- the instance role may read the RDS-managed secret.

SQLite (enable_rds = false)
- more than one instance is refused (a precondition or validation, evaluated
  for desired_capacity 1..3, fails only for SQLite with more than one, and
  says SQLite and enable_rds), and the group's max_size is 1;
- the database file is under the data directory, which is a separate,
  encrypted aws_ebs_volume with prevent_destroy, in the AZ of the only subnet
  of the Auto Scaling group; the launch template has no volume but the root
  one (a launch-template volume is new with every instance);
- the user data attaches that volume, mounts it on the data directory, never
  sets DeleteOnTermination, and makes signet-host refuse to start unless the
  directory is a mount point, all before the host is started; the host may
  write there (its StateDirectory or ReadWritePaths).

Both: the user data renders (every ${name} is passed), is valid bash, and is
under EC2's 16 KiB limit.

Usage: check_database.py MODULE_DIR [EXAMPLE_DIR]; exit 0 ok, 1 violations.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
from pathlib import Path

import hcl2

# --------------------------------------------------------------------------
# Loading: python-hcl2 has two output shapes (bc-python-hcl2, which checkov
# installs, wraps every attribute in a list; python-hcl2 >= 5 keeps the quotes
# of string literals and labels). Both are normalised to the same thing.

META_KEYS = {"__start_line__", "__end_line__", "__is_block__", "__comments__", "__inline_comments__"}


def _unquote(s):
    if isinstance(s, str) and len(s) >= 2 and s[0] == '"' and s[-1] == '"':
        body = s[1:-1]
        return re.sub(r'\\(["\\nt])', lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)
    return s


def normalise(v):
    if isinstance(v, dict):
        return {_unquote(k): normalise(x) for k, x in v.items() if k not in META_KEYS}
    if isinstance(v, list):
        return [normalise(x) for x in v]
    return _unquote(v)


def one(v):
    """An attribute value (bc-python-hcl2 wraps them in one-element lists)."""
    while isinstance(v, list) and len(v) == 1:
        v = v[0]
    return v


def load_dir(directory):
    docs = []
    for tf in sorted(Path(directory).glob("*.tf")):
        with open(tf) as f:
            docs.append((tf.name, normalise(hcl2.load(f))))
    return docs


class Module:
    def __init__(self, directory):
        self.dir = Path(directory)
        self.docs = load_dir(directory)
        self.locals = {}
        self.variables = {}
        self.resources = {}  # (type, name) -> body
        self.data = {}
        self.outputs = {}
        for _, d in self.docs:
            for block in d.get("locals", []):
                self.locals.update(block)
            for block in d.get("variable", []):
                self.variables.update(block)
            for block in d.get("output", []):
                self.outputs.update(block)
            for kind, target in (("resource", self.resources), ("data", self.data)):
                for block in d.get(kind, []):
                    for rtype, named in block.items():
                        for name, body in named.items():
                            target[(rtype, name)] = body

    def of_type(self, rtype, data=False):
        table = self.data if data else self.resources
        return {name: body for (t, name), body in table.items() if t == rtype}


# --------------------------------------------------------------------------
# A small evaluator of the HCL expression language.


class Unsupported(Exception):
    """The expression uses something this evaluator does not model."""


class Unknown(Exception):
    """An operation on a value only known at apply time."""


class Ref:
    """A reference to something only known at apply time (a resource attribute)."""

    def __init__(self, path):
        self.path = path

    def __eq__(self, other):
        return isinstance(other, Ref) and other.path == self.path

    def __hash__(self):
        return hash(self.path)

    def __repr__(self):
        return f"«{self.path}»"

    @property
    def address(self):
        """data.TYPE.NAME or TYPE.NAME, without index or attribute."""
        parts = re.sub(r"\[[^\]]*\]", "", self.path).split(".")
        return ".".join(parts[:3] if parts[0] == "data" else parts[:2])


_TOKEN = re.compile(
    r"""(?P<ws>\s+)
      |(?P<num>\d+(?:\.\d+)?)
      |(?P<ident>[A-Za-z_][A-Za-z0-9_-]*)
      |(?P<op>==|!=|<=|>=|&&|\|\||=>|\.\.\.|[-+*/%<>!?:.,()\[\]{}=])""",
    re.X,
)


def _scan_string(src, i, raw=False):
    """src[i] is a quote; returns (template parts, index after the closing quote).
    raw: src is a whole template without quotes or escapes (to its end)."""
    quote = None if raw else src[i]
    i += 0 if raw else 1
    parts, buf = [], []
    while True:
        if i >= len(src):
            if raw:
                if buf:
                    parts.append("".join(buf))
                return parts, i
            raise Unsupported("unterminated string")
        c = src[i]
        if c == "\\" and i + 1 < len(src) and not raw:
            nxt = src[i + 1]
            buf.append({"n": "\n", "t": "\t", "r": "\r"}.get(nxt, nxt))
            i += 2
        elif src.startswith("$${", i):
            buf.append("${")
            i += 3
        elif src.startswith("${", i):
            end = _matching_brace(src, i + 1)
            if buf:
                parts.append("".join(buf))
                buf = []
            parts.append(parse_expression(src[i + 2 : end]))
            i = end + 1
        elif src.startswith("%{", i):
            raise Unsupported("template directive in a string")
        elif c == quote:
            if buf:
                parts.append("".join(buf))
            return parts, i + 1
        else:
            buf.append(c)
            i += 1


def _matching_brace(src, i):
    """src[i] == '{'; the index of its matching '}' (strings skipped)."""
    depth = 0
    while i < len(src):
        c = src[i]
        if c in "\"'":
            _, i = _scan_string(src, i)
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise Unsupported("unbalanced braces")


def _tokens(src):
    out, i = [], 0
    while i < len(src):
        if src[i] in "\"'":
            parts, i = _scan_string(src, i)
            out.append(("str", parts))
            continue
        m = _TOKEN.match(src, i)
        if not m:
            raise Unsupported(f"cannot read {src[i:i + 20]!r}")
        i = m.end()
        if m.lastgroup != "ws":
            out.append((m.lastgroup, m.group()))
    out.append(("end", None))
    return out


class _Parser:
    def __init__(self, src):
        self.toks = _tokens(src)
        self.i = 0

    def peek(self, *values):
        kind, val = self.toks[self.i]
        return kind == "op" and val in values

    def take(self, value=None):
        kind, val = self.toks[self.i]
        if value is not None and not (kind == "op" and val == value):
            raise Unsupported(f"expected {value!r}, found {val!r}")
        self.i += 1
        return kind, val

    def parse(self):
        node = self.ternary()
        if self.toks[self.i][0] != "end":
            raise Unsupported(f"unexpected {self.toks[self.i][1]!r}")
        return node

    def ternary(self):
        cond = self.binary(0)
        if self.peek("?"):
            self.take("?")
            a = self.ternary()
            self.take(":")
            b = self.ternary()
            return ("cond", cond, a, b)
        return cond

    LEVELS = [("||",), ("&&",), ("==", "!="), ("<", ">", "<=", ">="), ("+", "-"), ("*", "/", "%")]

    def binary(self, level):
        if level == len(self.LEVELS):
            return self.unary()
        node = self.binary(level + 1)
        while self.peek(*self.LEVELS[level]):
            _, op = self.take()
            node = ("binop", op, node, self.binary(level + 1))
        return node

    def unary(self):
        if self.peek("!", "-"):
            _, op = self.take()
            return ("unop", op, self.unary())
        return self.postfix(self.primary())

    def postfix(self, node):
        steps = []
        while True:
            if self.peek("."):
                self.take(".")
                kind, val = self.take()
                if kind == "op" and val == "*":
                    steps.append(("splat",))
                elif kind in ("ident", "num"):
                    steps.append(("attr", val) if kind == "ident" else ("index", ("lit", int(val))))
                else:
                    raise Unsupported(f"bad attribute {val!r}")
            elif self.peek("["):
                self.take("[")
                if self.peek("*"):
                    self.take("*")
                    steps.append(("splat",))
                else:
                    steps.append(("index", self.ternary()))
                self.take("]")
            else:
                break
        if not steps:
            return node
        if node[0] == "ref":
            return ("ref", node[1], node[2] + steps)
        return ("post", node, steps)

    def primary(self):
        kind, val = self.take()
        if kind == "num":
            return ("lit", float(val) if "." in val else int(val))
        if kind == "str":
            return ("tmpl", val)
        if kind == "ident":
            if val in ("true", "True"):
                return ("lit", True)
            if val in ("false", "False"):
                return ("lit", False)
            if val in ("null", "None"):
                return ("lit", None)
            if val == "for":
                raise Unsupported("for expression")
            if self.peek("("):
                self.take("(")
                args = []
                while not self.peek(")"):
                    args.append(self.ternary())
                    if self.peek("..."):
                        raise Unsupported("argument expansion")
                    if not self.peek(")"):
                        self.take(",")
                self.take(")")
                return ("call", val, args)
            return ("ref", val, [])
        if kind == "op" and val == "(":
            node = self.ternary()
            self.take(")")
            return node
        if kind == "op" and val == "[":
            if self.toks[self.i] == ("ident", "for"):
                return self.for_list()
            items = []
            while not self.peek("]"):
                items.append(self.ternary())
                if not self.peek("]"):
                    self.take(",")
            self.take("]")
            return ("list", items)
        if kind == "op" and val == "{":
            items = []
            while not self.peek("}"):
                if self.toks[self.i][1] == "for":
                    raise Unsupported("for expression")
                key = self.ternary()
                if not (self.peek("=") or self.peek(":")):
                    raise Unsupported("object without = or :")
                self.take()
                items.append((key, self.ternary()))
                if self.peek(","):
                    self.take(",")
            self.take("}")
            return ("obj", items)
        raise Unsupported(f"unexpected {val!r}")


    def for_list(self):
        """`[for [k,] v in COLL : EXPR [if COND]]` after its `[`."""
        self.take()  # for
        names = [self.take()[1]]
        if self.peek(","):
            self.take(",")
            names.append(self.take()[1])
        if self.take() != ("ident", "in"):
            raise Unsupported("for expression without `in`")
        coll = self.ternary()
        self.take(":")
        body = self.ternary()
        cond = None
        if self.toks[self.i] == ("ident", "if"):
            self.take()
            cond = self.ternary()
        self.take("]")
        keyvar, valvar = (names[0], names[1]) if len(names) == 2 else (None, names[0])
        return ("for", keyvar, valvar, coll, body, cond)


def parse_expression(src):
    return _Parser(src).parse()


def parse_value(v):
    """A normalised attribute value as an expression tree."""
    if isinstance(v, str):
        parts, _ = _scan_string(v, 0, raw=True)
        if len(parts) == 1 and not isinstance(parts[0], str):
            return parts[0]
        return ("tmpl", parts)
    if isinstance(v, list):
        return ("list", [parse_value(x) for x in v])
    if isinstance(v, dict):
        return ("obj", [(("lit", k), parse_value(x)) for k, x in v.items()])
    return ("lit", v)


def _path(root, steps, env=None):
    out = root
    for step in steps:
        if step[0] == "attr":
            out += "." + step[1]
        elif step[0] == "splat":
            out += "[*]"
        else:
            idx = step[1]
            if idx[0] == "lit":
                out += f"[{idx[1]}]"
            elif env is not None:
                try:
                    out += f"[{env.eval(idx)}]"
                except (Unknown, Unsupported):
                    out += "[?]"
            else:
                out += "[?]"
    return out


def _traverse(value, steps, env):
    for n, step in enumerate(steps):
        if isinstance(value, Ref):
            return Ref(value.path + _path("", steps[n:], env))
        if step[0] == "splat":
            if value is None:
                return []
            items = value if isinstance(value, list) else [value]
            return [_traverse(x, steps[n + 1 :], env) for x in items]
        if step[0] == "attr":
            if not isinstance(value, dict) or step[1] not in value:
                raise Unsupported(f"no attribute {step[1]}")
            value = value[step[1]]
        else:
            idx = env.eval(step[1])
            try:
                value = value[idx]
            except (KeyError, IndexError, TypeError):
                raise Unsupported(f"invalid index {idx!r}")
    return value


def _text(v):
    if isinstance(v, Ref):
        return repr(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if v is None:
        raise Unsupported("null in a string template")
    if isinstance(v, (list, dict)):
        raise Unsupported("a collection in a string template")
    return str(v)


def _known(*values):
    for v in values:
        if isinstance(v, Ref):
            raise Unknown(v.path)


_TYPES = {}


def typed(module, variables):
    """The given variables converted to their declared types as Terraform
    converts them (an object's missing optional attributes become null);
    render_kms_policy.py reads the type constraints."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import render_kms_policy as r

    key = str(module.dir.resolve())
    if key not in _TYPES:
        _TYPES[key] = {name: r.variable_type(block) for name, block in r.Module(module.dir).variables.items()}
    out = {}
    for name, value in variables.items():
        if name in _TYPES[key] and not isinstance(value, Ref):
            try:
                value = r.convert(value, _TYPES[key][name], f"var.{name}")
            except r.RenderError as e:
                raise Unsupported(str(e))
        out[name] = value
    return out


class Env:
    """Evaluates a module's expressions for given variable values.

    refs maps reference paths (e.g. "data.aws_region.current.name",
    "aws_db_instance.signet[*].address") to values; others stay Ref."""

    def __init__(self, module, variables=None, refs=None, locals_override=None):
        self.module = module
        self.vars = {}
        for name, body in module.variables.items():
            if "default" in body:
                try:
                    self.vars[name] = self.eval(parse_value(one(body["default"])))
                except (Unknown, Unsupported):
                    pass  # stays a reference
        self.vars.update(typed(module, variables or {}))
        self.refs = refs or {}
        self.locals_override = locals_override or {}
        self._locals = {}
        self.scope = {}  # the variables of enclosing `for` expressions

    def local(self, name):
        if name in self.locals_override:
            return self.locals_override[name]
        if name not in self._locals:
            if name not in self.module.locals:
                raise Unsupported(f"no local.{name}")
            self._locals[name] = None  # cycle guard
            self._locals[name] = self.eval(parse_value(one(self.module.locals[name])))
        return self._locals[name]

    def value(self, attr):
        return self.eval(parse_value(one(attr)))

    def eval(self, node):
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "tmpl":
            parts = node[1]
            if len(parts) == 1 and not isinstance(parts[0], str):
                return self.eval(parts[0])
            return "".join(p if isinstance(p, str) else _text(self.eval(p)) for p in parts)
        if kind == "list":
            return [self.eval(x) for x in node[1]]
        if kind == "obj":
            out = {}
            for k, v in node[1]:
                key = k[1] if k[0] == "ref" and not k[2] else self.eval(k)
                out[_text(key)] = self.eval(v)
            return out
        if kind == "ref":
            root, steps = node[1], node[2]
            if root in self.scope:
                return _traverse(self.scope[root], steps, self)
            if root == "var":
                name = steps[0][1]
                if name not in self.vars:
                    return Ref(_path("var", steps, self))
                return _traverse(self.vars[name], steps[1:], self)
            if root == "local":
                return _traverse(self.local(steps[0][1]), steps[1:], self)
            path = _path(root, steps, self)
            if path in self.refs:
                return self.refs[path]
            return Ref(path)
        if kind == "post":
            return _traverse(self.eval(node[1]), node[2], self)
        if kind == "cond":
            c = self.eval(node[1])
            _known(c)
            if not isinstance(c, bool):
                raise Unsupported(f"condition is {c!r}")
            return self.eval(node[2] if c else node[3])
        if kind == "unop":
            x = self.eval(node[2])
            _known(x)
            return (not x) if node[1] == "!" else -x
        if kind == "binop":
            op = node[1]
            a = self.eval(node[2])
            if op in ("||", "&&"):
                _known(a)
                if op == "||" and a is True:
                    return True
                if op == "&&" and a is False:
                    return False
                b = self.eval(node[3])
                _known(b)
                return bool(b)
            b = self.eval(node[3])
            if op in ("==", "!="):
                if isinstance(a, Ref) or isinstance(b, Ref):
                    raise Unknown(op)
                return (a == b) if op == "==" else (a != b)
            _known(a, b)
            return {
                "+": lambda: a + b,
                "-": lambda: a - b,
                "*": lambda: a * b,
                "/": lambda: a / b,
                "%": lambda: a % b,
                "<": lambda: a < b,
                ">": lambda: a > b,
                "<=": lambda: a <= b,
                ">=": lambda: a >= b,
            }[op]()
        if kind == "call":
            return self.call(node[1], node[2])
        if kind == "for":
            _, keyvar, valvar, coll_node, body, cond = node
            coll = self.eval(coll_node)
            _known(coll)
            if isinstance(coll, dict):
                items = sorted(coll.items())
            elif isinstance(coll, list):
                items = list(enumerate(coll))
            else:
                raise Unsupported(f"for over {coll!r}")
            out, saved = [], self.scope
            try:
                for k, v in items:
                    self.scope = dict(saved, **{valvar: v}, **({keyvar: k} if keyvar else {}))
                    if cond is not None and self.eval(cond) is not True:
                        continue
                    out.append(self.eval(body))
            finally:
                self.scope = saved
            return out
        raise Unsupported(kind)

    def call(self, name, arg_nodes):
        args = [self.eval(a) for a in arg_nodes]
        if name == "one":
            (x,) = args
            if isinstance(x, Ref):
                return x
            if x is None or len(x) == 0:
                return None
            if len(x) == 1:
                return x[0]
            raise Unsupported("one() of several elements")
        if name == "coalesce":
            for a in args:
                if a is not None and a != "":
                    return a
            raise Unsupported("coalesce() of nothing")
        if name == "concat":
            _known(*args)
            return [x for a in args for x in a]
        if name == "length":
            _known(*args)
            return len(args[0])
        if name == "merge":
            _known(*args)
            out = {}
            for a in args:
                out.update(a or {})
            return out
        if name == "trimprefix":
            _known(*args)
            return args[0][len(args[1]) :] if args[0].startswith(args[1]) else args[0]
        if name == "jsonencode":
            _known(*args)
            return json.dumps(args[0], separators=(",", ":"), sort_keys=True)
        if name == "max":
            _known(*args)
            return max(args)
        if name == "tostring":
            _known(*args)
            return _text(args[0])
        if name == "join":
            _known(*args)
            return args[0].join(_text(x) for x in args[1])
        if name == "keys":
            _known(*args)
            return sorted(args[0])
        if name == "sort":
            _known(*args)
            return sorted(_text(x) for x in args[0])
        raise Unsupported(f"function {name}()")


def refs_in(node):
    """Every reference path (as text) in an expression tree."""
    out = []
    if isinstance(node, tuple):
        if node[0] == "ref":
            out.append(_path(node[1], node[2]))
        for x in node[1:]:
            out.extend(refs_in(x))
    elif isinstance(node, list):
        for x in node:
            out.extend(refs_in(x))
    return out


def source_text(v):
    """Everything an attribute says, as one string (for reference searches)."""
    return json.dumps(v)


# --------------------------------------------------------------------------
# Terraform templates (the subset the user data may use: ${name} only).


class TemplateError(Exception):
    pass


def render_template(text, values):
    out, i = [], 0
    ident = re.compile(r"\$\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}")
    while i < len(text):
        if text.startswith("$${", i):
            out.append("${")
            i += 3
        elif text.startswith("%%{", i):
            out.append("%{")
            i += 3
        elif text.startswith("${", i):
            m = ident.match(text, i)
            line = text.count("\n", 0, i) + 1
            if not m:
                raise TemplateError(f"line {line}: only ${{name}} interpolations are supported in the user data")
            name = m.group(1)
            if name not in values:
                raise TemplateError(f"line {line}: the template uses ${{{name}}} but templatefile() does not pass it")
            v = values[name]
            if v is None or isinstance(v, Ref) or (isinstance(v, str) and "«" in v):
                raise TemplateError(f"line {line}: ${{{name}}} is {v!r}, not a known value")
            out.append(_text(v))
            i = m.end()
        elif text.startswith("%{", i):
            raise TemplateError(f"line {text.count(chr(10), 0, i) + 1}: template directives are not supported in the user data")
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def heredocs(script):
    """{path: body} for every `cat > PATH <<'END'` ... END in a shell script."""
    out = {}
    lines = script.split("\n")
    start = re.compile(r"""^\s*cat\s+>>?\s*(\S+)\s+<<-?\s*(['"]?)(\w+)\2\s*$""")
    i = 0
    while i < len(lines):
        m = start.match(lines[i])
        if m:
            end = m.group(3)
            j = i + 1
            while j < len(lines) and lines[j].strip() != end:
                j += 1
            out[m.group(1)] = "\n".join(lines[i + 1 : j])
            i = j
        i += 1
    return out


def unit_settings(unit_text):
    """[(key, value)] of a systemd unit, in order."""
    out = []
    for line in unit_text.split("\n"):
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            k, v = line.split("=", 1)
            out.append((k.strip(), v.strip()))
    return out


def parse_env_file(text):
    """KEY=VALUE lines as systemd reads them (simple quoting)."""
    out = {}
    for line in text.split("\n"):
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        k, v = line.split("=", 1)
        if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
            v = v[1:-1]
        out[k.strip()] = v
    return out


# --------------------------------------------------------------------------
# The checks.

FORBIDDEN_IN_USER_DATA_AND_OUTPUTS = re.compile(
    r"\.password\b|\bpassword\s*[=:]|secret_string|secret_binary|random_password|secretsmanager_secret_version|master_password",
    re.I,
)
HOST_UNIT = "/etc/systemd/system/signet-host.service"
USER_DATA_LIMIT = 16 * 1024
TEST_SECRET = {"username": "signet", "password": "p@ss:w/rd?#&%x'\"y$(id)"}
DB_ADDRESS = "signet-db.abcdefghijkl.eu-west-1.rds.amazonaws.com"
VOLUME_ID = "vol-0123456789abcdef0"
SEALING_KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
SUBNETS = ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0bbbbbbbbbbbbbbb2"]


class Checker:
    def __init__(self, module_dir, example_dir=None):
        self.module = Module(module_dir)
        self.example = Module(example_dir) if example_dir else None
        self.problems = []

    def fail(self, msg):
        self.problems.append(msg)

    # -- helpers --------------------------------------------------------------

    def env(self, enable_rds, desired_capacity=1, **kw):
        variables = {
            "enable_rds": enable_rds,
            "desired_capacity": desired_capacity,
            "name": "signet",
            "private_subnet_ids": SUBNETS,
            "eif_s3_uri": "s3://signet-images/signet.eif",
            "enclave_pcr_sets": [{"pcr0": "a" * 96, "pcr1": "1" * 96, "pcr2": "2" * 96, "pcr8": None}],
            "admin_allowed_cidrs": ["10.20.0.0/24"],
            "drain_seconds": None,
        }
        variables.update(kw.pop("variables", {}))
        return Env(self.module, variables, kw.pop("refs", None), kw.pop("locals_override", None))

    def count_of(self, body, env):
        if "count" not in body:
            return 1
        try:
            return env.value(body["count"])
        except (Unknown, Unsupported) as e:
            return f"unevaluable ({e})"

    def db_instances(self):
        return self.module.of_type("aws_db_instance")

    def templatefile_call(self):
        """(path expression, {name: expression}) of the user data's templatefile()."""
        for lname, raw in self.module.locals.items():
            raw = one(raw)
            if isinstance(raw, str) and "templatefile(" in raw:
                try:
                    node = parse_value(raw)
                except Unsupported as e:
                    self.fail(f"local.{lname}: cannot read the templatefile() call ({e})")
                    return None
                if node[0] == "call" and node[1] == "templatefile" and len(node[2]) == 2 and node[2][1][0] == "obj":
                    items = {}
                    for k, v in node[2][1][1]:
                        key = k[1] if k[0] == "ref" and not k[2] else (k[1] if k[0] == "lit" else None)
                        if key is None and k[0] == "tmpl" and len(k[1]) == 1 and isinstance(k[1][0], str):
                            key = k[1][0]
                        items[key] = v
                    return node[2][0], items
                self.fail(f"local.{lname}: templatefile() is not called with a literal map of variables")
                return None
        self.fail("no local calls templatefile() for the user data")
        return None

    def user_data_values(self, env):
        call = self.templatefile_call()
        if call is None:
            return None, None
        path_node, items = call
        env.refs.setdefault("path.module", str(self.module.dir))
        path = env.eval(path_node)
        values = {}
        for k, v in items.items():
            try:
                values[k] = env.eval(v)
            except (Unknown, Unsupported) as e:
                values[k] = Ref(f"unevaluable: {e}")
        return Path(path), values

    def render(self, env, label):
        path, values = self.user_data_values(env)
        if path is None:
            return None, None
        try:
            script = render_template(path.read_text(), values)
        except TemplateError as e:
            self.fail(f"user data ({label}): {e}")
            return None, values
        except OSError as e:
            self.fail(f"user data ({label}): {e}")
            return None, values
        return script, values

    def known_refs(self, db="signet", volume="data"):
        return {
            "data.aws_region.current.name": "eu-west-1",
            "data.aws_partition.current.partition": "aws",
            "data.aws_caller_identity.current.account_id": "123456789012",
            "aws_cloudwatch_log_group.signet.name": "/signet/signet",
            "aws_kms_key.sealing.arn": SEALING_KEY_ARN,
            f"aws_db_instance.{db}[*].address": [DB_ADDRESS],
            f"aws_db_instance.{db}[*].port": [5432],
            f"aws_db_instance.{db}[*].endpoint": [f"{DB_ADDRESS}:5432"],
            f"aws_db_instance.{db}[*].db_name": ["signet"],
            f"aws_db_instance.{db}[*].master_user_secret[0].secret_arn": ["arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-0123-abcd"],
            f"aws_ebs_volume.{volume}[*].id": [VOLUME_ID],
            f"aws_ebs_volume.{volume}.id": VOLUME_ID,
        }

    # -- the checks -------------------------------------------------------------

    def check(self):
        self.check_no_plaintext_password()
        self.check_postgres()
        self.check_sqlite_refused_for_several_hosts()
        self.check_sqlite_persistence()
        return self.problems

    def check_no_plaintext_password(self):
        m = self.module
        for name in m.of_type("aws_secretsmanager_secret_version", data=True):
            self.fail(f'data "aws_secretsmanager_secret_version" "{name}" reads a secret value into the plan and state')
        for name, body in self.db_instances().items():
            if "password" in body:
                self.fail(f"aws_db_instance.{name} sets `password`: the database password would be in the Terraform state; use manage_master_user_password = true")
            if one(body.get("manage_master_user_password")) is not True:
                self.fail(f"aws_db_instance.{name}: manage_master_user_password must be true (the password stays in Secrets Manager)")
        call = self.templatefile_call()
        if call is not None:
            for k, v in call[1].items():
                text = f"{k} = {v!r} {' '.join(refs_in(v))}"
                if FORBIDDEN_IN_USER_DATA_AND_OUTPUTS.search(text) or "password" in str(k).lower():
                    self.fail(f"templatefile() gets `{k}`, which carries a password or secret value into the user data")
        for mod, where in ((m, "module"), (self.example, "example")):
            if mod is None:
                continue
            for name, body in mod.outputs.items():
                text = source_text(body.get("value"))
                if FORBIDDEN_IN_USER_DATA_AND_OUTPUTS.search(text) or "user_data" in text:
                    self.fail(f'{where} output "{name}" exposes a password, secret value or the user data')
        template = m.dir / "user_data.sh.tftpl"
        if template.exists() and re.search(r"^\s*set\s+-[a-wyz]*x|\bbash\s+-x\b", template.read_text(), re.M):
            self.fail("the user data traces commands (set -x): secrets would end in the cloud-init log")

    def check_postgres(self):
        dbs = self.db_instances()
        if len(dbs) != 1:
            self.fail(f"expected one aws_db_instance, found {len(dbs)}")
            return
        (db, body), = dbs.items()
        rds, sqlite = self.env(True), self.env(False)
        if self.count_of(body, rds) != 1 or self.count_of(body, sqlite) != 0:
            self.fail(f"aws_db_instance.{db} must exist exactly when enable_rds = true (count {self.count_of(body, rds)} / {self.count_of(body, sqlite)})")
        params = self.module.of_type("aws_db_parameter_group")
        forced = any(
            one(p.get("name")) == "rds.force_ssl" and str(one(p.get("value"))) == "1"
            for g in params.values()
            for p in g.get("parameter", [])
        )
        if not forced:
            self.fail("no aws_db_parameter_group sets rds.force_ssl = 1: the database would accept plain connections")

        # The URL as Terraform builds it.
        try:
            url = self.env(True, refs=self.known_refs(db)).local("database_url")
        except (Unknown, Unsupported) as e:
            self.fail(f"local.database_url cannot be evaluated with enable_rds = true ({e})")
            return
        ca_file = None
        if not isinstance(url, str):
            self.fail(f"local.database_url with enable_rds = true is {url!r}, not a URL")
            return
        m = re.match(r"^[a-z]+://([^@/]*)@", url)
        if not m or m.group(1) != "__CREDENTIALS__":
            self.fail(f"with enable_rds = true the URL must carry the __CREDENTIALS__ placeholder, filled on the instance from the RDS-managed secret, not {m.group(1) if m else 'nothing'!r} ({url})")
            return
        try:
            parsed = urllib.parse.urlsplit(url)
        except ValueError as e:
            self.fail(f"with enable_rds = true the database URL does not parse ({url}: {e})")
            return
        query = urllib.parse.parse_qs(parsed.query)
        if parsed.scheme not in ("postgres", "postgresql"):
            self.fail(f"with enable_rds = true the database URL is not postgres:// ({url})")
        if query.get("sslmode") != ["verify-full"]:
            self.fail(f"with enable_rds = true the database URL does not say sslmode=verify-full ({url})")
        if len(query.get("sslrootcert", [])) != 1 or not query["sslrootcert"][0].startswith("/"):
            self.fail(f"with enable_rds = true the database URL names no CA file (sslrootcert=/path) ({url})")
        else:
            ca_file = query["sslrootcert"][0]
        if "«" in url:
            self.fail(f"with enable_rds = true the database URL depends on something unknown ({url})")
            return
        if parsed.hostname != DB_ADDRESS:
            self.fail(f"with enable_rds = true the database host is not aws_db_instance.{db}'s address ({url})")

        # The instance role may read the RDS-managed secret.
        policy = self.module.of_type("aws_iam_policy_document", data=True).get("instance", {})
        if not any(
            "secretsmanager:GetSecretValue" in source_text(s.get("actions")) and "master_user_secret" in source_text(s.get("resources"))
            for s in policy.get("statement", [])
        ):
            self.fail("the instance role (aws_iam_policy_document.instance) cannot read the RDS-managed master user secret")

        # What the host gets: render the user data, run the script the host
        # unit runs before each start, in a sandbox.
        for ca_source_var in (None, "s3://signet-config/rds/eu-west-1-bundle.pem"):
            self.run_postgres_host(db, ca_file, ca_source_var)

    def run_postgres_host(self, db, ca_file, ca_source_var):
        label = "enable_rds = true" + (f", rds_ca_bundle_s3_uri = {ca_source_var}" if ca_source_var else "")
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            sandbox_ca = str(tmp / "etc" / "rds-ca-bundle.pem")
            env = self.env(True, refs=self.known_refs(db), variables={"rds_ca_bundle_s3_uri": ca_source_var}, locals_override={"rds_ca_file": sandbox_ca})
            script, values = self.render(env, label)
            if script is None:
                return
            self.check_script_common(script, label)
            if DB_ADDRESS not in script:
                self.fail(f"user data ({label}): the RDS address is not in it")
            if re.search(r"postgres(ql)?://[^\s'\"/@]*:[^\s'\"/@]*@", script):
                self.fail(f"user data ({label}): it contains a postgres URL with credentials")
            if TEST_SECRET["password"] in script:
                self.fail(f"user data ({label}): it contains the database password")
            gen = self.host_database_script(script, label)
            if gen is None:
                return
            gen_path, env_file, body = gen
            # The script fetches the bundle to rds_ca_file: it must be the URL's
            # sslrootcert (both are in the sandbox here, or the script is not run).
            rendered_ca = values.get("rds_ca_file")
            url_ca = urllib.parse.parse_qs(str(env.local("database_url")).partition("?")[2]).get("sslrootcert", [None])[0]
            if not (rendered_ca == url_ca == sandbox_ca):
                self.fail(f"user data ({label}): the CA bundle the instance fetches ({rendered_ca}) is not the sslrootcert of the URL ({ca_file})")
                return
            result = self.run_generator(tmp, body, expect_secret=True)
            if isinstance(result, str):
                self.fail(f"{gen_path} ({label}): {result}")
                return
            env_vars, calls = result
            url = env_vars.get("SIGNET_DATABASE_URL")
            if not url:
                self.fail(f"{gen_path} ({label}): writes no SIGNET_DATABASE_URL into {env_file}")
                return
            try:
                p = urllib.parse.urlsplit(url)
                q = urllib.parse.parse_qs(p.query)
                host, port, user, password = p.hostname, p.port, p.username, p.password
            except ValueError as e:
                self.fail(f"{gen_path} ({label}): the host's URL does not parse ({e}): are the credentials percent-encoded?")
                return
            if p.scheme not in ("postgres", "postgresql"):
                self.fail(f"{gen_path} ({label}): the host gets {p.scheme}://, not postgres://")
            if q.get("sslmode") != ["verify-full"]:
                self.fail(f"{gen_path} ({label}): the host's URL does not say sslmode=verify-full")
            root = q.get("sslrootcert", [None])[0]
            if not root or not Path(root).is_file() or "-----BEGIN CERTIFICATE-----" not in Path(root).read_text():
                self.fail(f"{gen_path} ({label}): the host's sslrootcert ({root}) is not a CA bundle the instance fetched")
            if host != DB_ADDRESS or port != 5432:
                self.fail(f"{gen_path} ({label}): the host connects to {host}:{port}, not the RDS instance")
            if (urllib.parse.unquote(user or ""), urllib.parse.unquote(password or "")) != (TEST_SECRET["username"], TEST_SECRET["password"]):
                self.fail(f"{gen_path} ({label}): the URL does not carry the RDS-managed secret's user and password (percent-encoded)")
            want_source = ca_source_var or "https://truststore.pki.rds.amazonaws.com/eu-west-1/eu-west-1-bundle.pem"
            if not any(want_source in c for c in calls):
                self.fail(f"{gen_path} ({label}): the CA bundle was not fetched from {want_source}")
            if ca_source_var and not self.iam_reads_object(ca_source_var):
                self.fail(f"({label}): the instance role may not read {ca_source_var}")

    def iam_reads_object(self, s3_uri):
        env = self.env(True, variables={"rds_ca_bundle_s3_uri": s3_uri}, refs=self.known_refs())
        policy = self.module.of_type("aws_iam_policy_document", data=True).get("instance", {})
        want = "arn:aws:s3:::" + s3_uri[len("s3://") :]
        for dyn in policy.get("dynamic", []):
            st = dyn.get("statement")
            if not st:
                continue
            try:
                items = env.value(st.get("for_each"))
            except (Unknown, Unsupported):
                continue
            for content in st.get("content", []):
                if "s3:GetObject" not in source_text(content.get("actions")):
                    continue
                for item in items if isinstance(items, list) else []:
                    sub = Env(self.module, env.vars, dict(env.refs, **{"statement.value": item}))
                    try:
                        res = sub.value(content.get("resources"))
                    except (Unknown, Unsupported):
                        continue
                    if want in (res if isinstance(res, list) else [res]):
                        return True
        return False

    def host_database_script(self, script, label):
        """(script path, env file, script body) of the ExecStartPre=+ that writes the database URL."""
        docs = heredocs(script)
        unit = docs.get(HOST_UNIT)
        if unit is None:
            self.fail(f"user data ({label}): does not write {HOST_UNIT}")
            return None
        settings = unit_settings(unit)
        env_files = [v.lstrip("-") for k, v in settings if k == "EnvironmentFile"]
        for k, v in settings:
            if k != "ExecStartPre" or not v.startswith("+"):
                continue
            argv = v[1:].split()
            if len(argv) == 2 and argv[0] in docs:
                path, out = argv
                if out not in env_files:
                    self.fail(f"user data ({label}): {path} writes {out}, which is not an EnvironmentFile of signet-host: the URL never reaches the host's environment")
                    return None
                if not out.startswith("/run/"):
                    self.fail(f"user data ({label}): the database URL (with its password) is written to {out}, not to memory under /run/")
                if "SIGNET_DATABASE_URL" not in docs[path]:
                    continue
                others = [ln for ln in script.split("\n") if "SIGNET_DATABASE_URL=" in ln and ln not in docs[path]]
                if others:
                    self.fail(f"user data ({label}): SIGNET_DATABASE_URL is also set elsewhere ({others[0].strip()})")
                return path, out, docs[path]
        self.fail(f"user data ({label}): signet-host.service has no ExecStartPre=+SCRIPT FILE that writes SIGNET_DATABASE_URL into one of its EnvironmentFiles: the host would start without its database URL")
        return None

    def run_generator(self, tmp, body, expect_secret):
        """Runs the database script with stub aws/curl; ({env}, [stub calls]) or an error text."""
        bindir = tmp / "bin"
        bindir.mkdir(exist_ok=True)
        log = tmp / "calls.log"
        secret = json.dumps(TEST_SECRET)
        (bindir / "aws").write_text(
            "#!/bin/bash\n"
            'printf "aws %s\\n" "$*" >> "$STUB_LOG"\n'
            'if [ "$1 $2" = "secretsmanager get-secret-value" ]; then\n'
            f"  cat <<'EOF'\n{secret}\nEOF\n"
            "  exit 0\n"
            "fi\n"
            'if [ "$1 $2" = "s3 cp" ]; then\n'
            '  for a; do dest=$a; done\n'
            "  printf -- '-----BEGIN CERTIFICATE-----\\nMIIBstub\\n-----END CERTIFICATE-----\\n' > \"$dest\"\n"
            "  exit 0\n"
            "fi\n"
            "exit 3\n"
        )
        (bindir / "curl").write_text(
            "#!/bin/bash\n"
            'printf "curl %s\\n" "$*" >> "$STUB_LOG"\n'
            'while [ $# -gt 0 ]; do if [ "$1" = -o ]; then out=$2; shift; fi; shift; done\n'
            "printf -- '-----BEGIN CERTIFICATE-----\\nMIIBstub\\n-----END CERTIFICATE-----\\n' > \"$out\"\n"
        )
        for stub in bindir.iterdir():
            stub.chmod(0o755)
        gen = tmp / "signet-database-env"
        gen.write_text(body + "\n")
        out = tmp / "run" / "signet-database" / "env"
        env = dict(os.environ, PATH=f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}", STUB_LOG=str(log))
        try:
            proc = subprocess.run(["bash", str(gen), str(out)], env=env, capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            return "timed out"
        calls = log.read_text().splitlines() if log.exists() else []
        if proc.returncode != 0:
            return f"exits {proc.returncode}: {proc.stderr.strip()[-400:]}"
        if not out.exists():
            return f"did not write {out}"
        if expect_secret and not any("secretsmanager get-secret-value" in c for c in calls):
            return "did not read the RDS-managed secret"
        if not expect_secret and any("secretsmanager" in c for c in calls):
            return "reads a secret with SQLite"
        if oct(out.stat().st_mode & 0o077) != "0o0":
            return f"{out} is readable by others (mode {oct(out.stat().st_mode & 0o777)})"
        return parse_env_file(out.read_text()), calls

    def check_script_common(self, script, label):
        if len(script.encode()) > USER_DATA_LIMIT:
            self.fail(f"user data ({label}): {len(script.encode())} bytes, over EC2's {USER_DATA_LIMIT}-byte limit")
        if shutil.which("bash"):
            proc = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
            if proc.returncode != 0:
                self.fail(f"user data ({label}): not valid bash: {proc.stderr.strip()}")

    def check_sqlite_refused_for_several_hosts(self):
        conditions = []  # (where, condition expression, message)
        for (rtype, name), body in list(self.module.resources.items()) + [(("data." + t, n), b) for (t, n), b in self.module.data.items()]:
            for lc in body.get("lifecycle", []):
                for pre in lc.get("precondition", []):
                    conditions.append((f"{rtype}.{name}", pre.get("condition"), str(one(pre.get("error_message")))))
        for name, body in self.module.variables.items():
            for val in body.get("validation", []):
                conditions.append((f"variable {name}", val.get("condition"), str(one(val.get("error_message")))))
        allowed = [(False, 1), (True, 1), (True, 2), (True, 3)]
        refused = [(False, 2), (False, 3)]
        for rds, n in allowed:
            for where, cond, msg in conditions:
                try:
                    ok = self.env(rds, n).value(cond)
                except (Unknown, Unsupported):
                    continue
                if ok is False:
                    self.fail(f"{where}: refuses enable_rds = {str(rds).lower()} with {n} instance(s), which is valid")
        for rds, n in refused:
            refusals = []
            for where, cond, msg in conditions:
                try:
                    ok = self.env(rds, n).value(cond)
                except (Unknown, Unsupported):
                    continue
                if ok is False:
                    refusals.append((where, msg))
            if not refusals:
                self.fail(f"SQLite with {n} instances is not refused: nothing stops several hosts from writing one SQLite file (add a precondition)")
            elif not any("sqlite" in msg.lower() and "enable_rds" in msg for _, msg in refusals):
                self.fail(f"the refusal of SQLite with {n} instances does not say why (mention SQLite and enable_rds): {refusals[0][1]!r}")
        asgs = self.module.of_type("aws_autoscaling_group")
        if not asgs:
            self.fail("no aws_autoscaling_group")
        for name, body in asgs.items():
            try:
                mx = self.env(False, 1).value(body.get("max_size"))
            except (Unknown, Unsupported) as e:
                mx = f"unevaluable ({e})"
            if mx != 1:
                self.fail(f"aws_autoscaling_group.{name}: max_size is {mx} with SQLite; it must be 1 (one writer; a second instance could not attach the volume)")

    def check_sqlite_persistence(self):
        sqlite = self.env(False, refs=self.known_refs())
        try:
            url = sqlite.local("database_url")
            data_dir = sqlite.local("data_dir")
        except (Unknown, Unsupported) as e:
            self.fail(f"local.database_url / local.data_dir cannot be evaluated with enable_rds = false ({e})")
            return
        if not (isinstance(url, str) and url.startswith("sqlite://")):
            self.fail(f"with enable_rds = false the database URL is not sqlite:// ({url!r})")
            return
        db_path = urllib.parse.urlsplit(url).path
        if not isinstance(data_dir, str) or not data_dir.startswith("/") or not db_path.startswith(data_dir.rstrip("/") + "/"):
            self.fail(f"the SQLite database {db_path} is not under the data volume's mount point {data_dir}: it would be on the root volume, lost with the instance")

        # The volume.
        volumes = {n: b for n, b in self.module.of_type("aws_ebs_volume").items() if self.count_of(b, self.env(False)) not in (0,)}
        if not volumes:
            self.fail("with enable_rds = false there is no aws_ebs_volume for the SQLite data: it would be on the root volume, lost with the instance")
            return
        volume_refs = set()
        subnet_addresses = set()
        for name, body in volumes.items():
            volume_refs.add(f"aws_ebs_volume.{name}")
            if one(body.get("encrypted")) is not True:
                self.fail(f"aws_ebs_volume.{name} is not encrypted")
            if not any(one(lc.get("prevent_destroy")) is True for lc in body.get("lifecycle", [])):
                self.fail(f"aws_ebs_volume.{name} has no lifecycle prevent_destroy = true: a plan could destroy the wallets' data")
            try:
                az = self.env(False).value(body.get("availability_zone"))
            except (Unknown, Unsupported) as e:
                az = f"unevaluable ({e})"
            if isinstance(az, Ref) and az.path.startswith("data.aws_subnet."):
                subnet_addresses.add(az.address)
            else:
                self.fail(f"aws_ebs_volume.{name}: its availability_zone ({az!r}) is not that of a data.aws_subnet the Auto Scaling group is pinned to")
        try:
            vol_id = sqlite.local("data_volume_id")
        except (Unknown, Unsupported):
            vol_id = None
        if vol_id != VOLUME_ID:
            self.fail(f"local.data_volume_id with enable_rds = false is {vol_id!r}, not the id of {sorted(volume_refs)}")

        for name, body in self.module.of_type("aws_autoscaling_group").items():
            try:
                zones = self.env(False).value(body.get("vpc_zone_identifier"))
            except (Unknown, Unsupported) as e:
                zones = f"unevaluable ({e})"
            zl = zones if isinstance(zones, list) else [zones]
            if not zl or not all(isinstance(z, Ref) and z.address in subnet_addresses for z in zl):
                self.fail(f"aws_autoscaling_group.{name}: with SQLite its subnets ({zones!r}) are not pinned to the data volume's AZ ({sorted(subnet_addresses)}): a replacement could start where the volume cannot attach")

        for name, body in self.module.of_type("aws_launch_template").items():
            for bdm in body.get("block_device_mappings", []):
                dev = one(bdm.get("device_name"))
                if dev not in ("/dev/xvda", "/dev/sda1"):
                    ebs = bdm.get("ebs", [{}])
                    dot = one((ebs[0] if ebs else {}).get("delete_on_termination"))
                    self.fail(
                        f"aws_launch_template.{name} maps {dev} (delete_on_termination = {dot}): a launch-template volume is created with each instance "
                        "and is deleted or orphaned with it; the SQLite data must be on the separate aws_ebs_volume"
                    )

        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            sandboxed = self.env(False, refs=self.known_refs(), locals_override={"rds_ca_file": str(tmp / "etc" / "rds-ca-bundle.pem")})
            script, values = self.render(sandboxed, "enable_rds = false")
            if script is None:
                return
            self.check_script_common(script, "enable_rds = false")
            self.check_mount(script, data_dir)
            gen = self.host_database_script(script, "enable_rds = false")
            if gen is None:
                return
            result = self.run_generator(tmp, gen[2], expect_secret=False)
            if isinstance(result, str):
                self.fail(f"{gen[0]} (enable_rds = false): {result}")
                return
            if result[0].get("SIGNET_DATABASE_URL") != url:
                self.fail(f"{gen[0]} (enable_rds = false): the host gets {result[0].get('SIGNET_DATABASE_URL')!r}, not {url}")

    def check_mount(self, script, data_dir):
        label = "user data (enable_rds = false)"
        lines = script.split("\n")

        def first(pattern):
            rx = re.compile(pattern)
            return next((i for i, ln in enumerate(lines) if rx.search(ln) and not ln.lstrip().startswith("#")), None)

        start_host = None
        for i, ln in enumerate(lines):
            if re.search(r"systemctl\s+(enable\s+--now|start|restart)\b.*\bsignet-host\b", ln):
                start_host = i
        if start_host is None:
            self.fail(f"{label}: never starts signet-host")
            return
        if VOLUME_ID not in script:
            self.fail(f"{label}: does not name the data volume ({VOLUME_ID})")
        attach = first(r"\baws\s+ec2\s+attach-volume\b")
        if attach is None:
            self.fail(f"{label}: never attaches the data volume")
        d = re.escape(data_dir)
        mount = first(rf"(^|[\s;|&(])mount\s+(\S+\s+)*\S*{d}/?['\"]?\s*$")
        fstab = first(rf"\s{d}\s+\w+\s.*>>\s*/etc/fstab")
        if mount is None and fstab is None:
            self.fail(f"{label}: never mounts the data volume on {data_dir}: the database would be on the root volume")
        for i in (attach, mount):
            if i is not None and i > start_host:
                self.fail(f"{label}: line {i + 1} attaches/mounts the data volume after signet-host is started")
        if re.search(r"\b(nfs4?|efs)\b", "\n".join(ln for ln in lines if data_dir in ln)):
            self.fail(f"{label}: {data_dir} is on NFS/EFS; SQLite's locking and WAL shared memory do not work there")
        if re.search(r"DeleteOnTermination[\"'\\]*\s*[:=]\s*[\"'\\]*true", script, re.I) or "modify-instance-attribute" in script:
            self.fail(f"{label}: marks the data volume DeleteOnTermination (or changes instance attributes): it would die with the instance")
        # The host must refuse to start without the volume.
        docs = heredocs(script)
        unit_texts = [(p, t) for p, t in docs.items() if p == HOST_UNIT or p.startswith(HOST_UNIT + ".d/")]
        settings = [kv for _, t in unit_texts for kv in unit_settings(t)]
        guarded = any(k in ("AssertPathIsMountPoint", "ConditionPathIsMountPoint") and v.rstrip("/") == data_dir.rstrip("/") for k, v in settings)
        required = any(k == "RequiresMountsFor" and data_dir.rstrip("/") in [x.rstrip("/") for x in v.split()] for k, v in settings)
        if not (guarded and required):
            self.fail(f"{label}: signet-host.service does not require the mount (RequiresMountsFor={data_dir} and AssertPathIsMountPoint={data_dir}): it could start on an empty database on the root volume")
        else:
            for p in docs:
                if p.startswith(HOST_UNIT + ".d/"):
                    pos = next(i for i, ln in enumerate(lines) if p in ln and "cat" in ln)
                    if pos > start_host:
                        self.fail(f"{label}: {p} is written after signet-host is started")
        # ...and may write there.
        state_dirs = ["/var/lib/" + x for k, v in settings if k == "StateDirectory" for x in v.split()]
        rw = [x.lstrip("-") for k, v in settings if k == "ReadWritePaths" for x in v.split()]
        if data_dir.rstrip("/") not in [x.rstrip("/") for x in state_dirs + rw]:
            self.fail(f"{label}: signet-host cannot write {data_dir} (not its StateDirectory or in ReadWritePaths)")


def check(module_dir, example_dir=None):
    return Checker(module_dir, example_dir).check()


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    problems = check(argv[1], argv[2] if len(argv) > 2 else None)
    for p in problems:
        print(f"FAIL {p}")
    if not problems:
        print("ok: enable_rds wires postgres:// with sslmode=verify-full, a fetched CA bundle and the RDS-managed secret into the host; "
              "no password in plain text; SQLite is refused for several hosts and lives on a persistent volume")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
