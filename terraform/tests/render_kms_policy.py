#!/usr/bin/env python3
"""Renders the Signet sealing key's policy: the JSON that Terraform's
`data "aws_iam_policy_document" "sealing_key"` (kms.tf) produces for given
variable values, without Terraform, the AWS provider or AWS.

    render_kms_policy.py MODULE_DIR --var name=signet \\
        --var 'enclave_pcr_sets=[{"pcr0": "HEX", "pcr1": "HEX", "pcr2": "HEX"}]' \\
        --var 'kms_admin_role_arns=["arn:aws:iam::111122223333:role/admin"]' \\
        --var 'retired_sealing_key_versions=[1]' \\
        --account 111122223333 --region us-east-1 \\
        --instance-role-arn arn:aws:iam::111122223333:role/signet-instance

prints the policy (the data source's `json`; `--minified` for `minified_json`)
and exits 0; on anything it does not understand it prints why on stderr and
exits 1 (2: usage). It never guesses.

How. The module's *.tf files are read by a parser of HCL's native syntax
written for this (python-hcl2, which checkov installs, drops parentheses from
the expressions it returns: `a && (b || c)` comes back as `a && b || c`, and
it loses the order of `statement` against `dynamic "statement"` blocks; it is
still run over every file as a syntax check, and must agree on the document's
statements). Variables get their defaults from the `variable` blocks, and
`--var NAME=VALUE` (a JSON value for list, map, object, number and bool
variables), converted to the variable's type as Terraform does (an object's
missing optional attributes become null, attributes the type does not name
are dropped).
Validations are not evaluated: `terraform plan` does that.

Evaluated: string literals and templates (`${...}` only), numbers, bools,
null, lists, objects, `var.X`, `local.X`, the iterators of `dynamic` blocks
(`<name>.key`, `<name>.value`, or `iterator = NAME`), `[for x in LIST : EXPR]`
(and `for i, x`, `if`), `a ? b : c`, `==`, `!=`, `<`, `<=`, `>`, `>=`, `!`,
`&&`, `||`, merge(), tostring(), length(), concat(), and these references,
from the command line: data.aws_caller_identity.<name>.account_id
(--account), data.aws_region.<name>.name or .region (--region),
data.aws_partition.<name>.partition (--partition, or from the region),
aws_iam_role.instance.arn (--instance-role-arn) and any other
`--ref ADDRESS=VALUE`. Anything else (other functions, splats, arithmetic,
template directives, heredocs, `for` objects, other references, `count` or
`for_each` on a referenced resource, other arguments of the data source)
is an error.

The JSON is what terraform-provider-aws (internal/service/iam,
policy_document_data_source.go and policy_model.go) writes: Version, then
Statement; in each statement Sid, Effect, Action, NotAction, Resource,
NotResource, Principal, NotPrincipal, Condition (empty ones left out);
actions, resources and principal identifiers are sets: one element becomes a
string, several a list sorted in *descending* order (the provider sorts and
reverses); condition values keep their order (one value: a string); the
conditions of a statement are merged into {test: {variable: values}} and the
principals into {type: identifiers}, keys sorted; `&{` becomes `${` in
resources, identifiers and condition values; Go's escaping (<, >, & as
\\u003c, \\u003e, \\u0026) and two-space indentation. Two conditions with the
same test and variable, or two principals blocks of the same type, would be
merged in the order of the provider's set hashes: refused rather than guessed.
"""
import argparse
import json
import re
import sys
from decimal import Decimal
from pathlib import Path

DOCUMENT = "sealing_key"


class RenderError(Exception):
    """Something the renderer does not understand, or that Terraform would refuse."""


# --------------------------------------------------------------------------
# Lexer (HCL native syntax).

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_OPS = ("==", "!=", "<=", ">=", "&&", "||", "=>", "...", "+", "-", "*", "/", "%", "<", ">", "!", "?", ":", ".", ",", "(", ")", "[", "]", "{", "}", "=")


class Tok:
    __slots__ = ("kind", "value", "line")

    def __init__(self, kind, value, line):
        self.kind, self.value, self.line = kind, value, line

    def is_op(self, *values):
        return self.kind == "op" and self.value in values

    def __repr__(self):
        return f"{self.kind}:{self.value!r}@{self.line}"


class Lexer:
    """Tokens of one file: ident, number, string (template parts), heredoc,
    op, nl, eof. Template parts are text or ("interp", [tokens]) or
    ("directive", text)."""

    def __init__(self, src, fname):
        self.src, self.fname, self.i, self.line = src, fname, 0, 1

    def error(self, msg):
        raise RenderError(f"{self.fname}:{self.line}: {msg}")

    def tokens(self, until_brace=False):
        """Tokens to the end of the source, or (until_brace) to the `}` that
        closes an interpolation (consumed, not returned)."""
        out, depth, src = [], 0, self.src
        while True:
            if self.i >= len(src):
                if until_brace:
                    self.error("unterminated ${ interpolation")
                out.append(Tok("eof", None, self.line))
                return out
            c = src[self.i]
            if c == "\n":
                out.append(Tok("nl", None, self.line))
                self.line += 1
                self.i += 1
            elif c in " \t\r":
                self.i += 1
            elif c == "#" or src.startswith("//", self.i):
                while self.i < len(src) and src[self.i] != "\n":
                    self.i += 1
            elif src.startswith("/*", self.i):
                end = src.find("*/", self.i + 2)
                if end < 0:
                    self.error("unterminated /* comment")
                self.line += src.count("\n", self.i, end)
                self.i = end + 2
            elif c == '"':
                line = self.line
                self.i += 1
                out.append(Tok("string", self.template(quoted=True), line))
            elif src.startswith("<<", self.i) and re.match(r"<<-?[A-Za-z_][A-Za-z0-9_-]*[ \t]*\n", src[self.i :]):
                out.append(self.heredoc())
            elif c in "0123456789":
                m = _NUMBER.match(src, self.i)
                text = m.group()
                out.append(Tok("number", float(text) if any(ch in text for ch in ".eE") else int(text), self.line))
                self.i = m.end()
            elif _IDENT.match(src, self.i):
                m = _IDENT.match(src, self.i)
                out.append(Tok("ident", m.group(), self.line))
                self.i = m.end()
            else:
                op = next((o for o in _OPS if src.startswith(o, self.i)), None)
                if op is None:
                    self.error(f"unexpected character {c!r}")
                self.i += len(op)
                if until_brace:
                    if op == "{":
                        depth += 1
                    elif op == "}":
                        if depth == 0:
                            out.append(Tok("eof", None, self.line))
                            return out
                        depth -= 1
                out.append(Tok("op", op, self.line))

    def template(self, quoted, end=None):
        """Template parts from self.i to the closing quote (quoted) or to
        index `end` (a heredoc body: no escapes)."""
        parts, buf, src = [], [], self.src
        stop = len(src) if end is None else end
        while True:
            if self.i >= stop:
                if quoted:
                    self.error("unterminated string")
                break
            c = src[self.i]
            if quoted and c == '"':
                self.i += 1
                break
            if quoted and c == "\n":
                self.error("newline in a quoted string")
            if quoted and c == "\\":
                nxt = src[self.i + 1 : self.i + 2]
                simple = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}
                if nxt in simple:
                    buf.append(simple[nxt])
                    self.i += 2
                elif nxt in ("u", "U"):
                    width = 4 if nxt == "u" else 8
                    hexdigits = src[self.i + 2 : self.i + 2 + width]
                    if not re.fullmatch(r"[0-9A-Fa-f]{%d}" % width, hexdigits):
                        self.error(f"bad \\{nxt} escape")
                    buf.append(chr(int(hexdigits, 16)))
                    self.i += 2 + width
                else:
                    self.error(f"unknown escape \\{nxt} in a string")
            elif src.startswith("$${", self.i):
                buf.append("${")
                self.i += 3
            elif src.startswith("%%{", self.i):
                buf.append("%{")
                self.i += 3
            elif src.startswith("${", self.i):
                if buf:
                    parts.append("".join(buf))
                    buf = []
                line = self.line
                self.i += 2
                parts.append(("interp", self.tokens(until_brace=True), line))
            elif src.startswith("%{", self.i):
                if buf:
                    parts.append("".join(buf))
                    buf = []
                close = src.find("}", self.i)
                if close < 0:
                    self.error("unterminated %{ directive")
                parts.append(("directive", src[self.i : close + 1], self.line))
                self.i = close + 1
            else:
                if c == "\n":
                    self.line += 1
                buf.append(c)
                self.i += 1
        if buf:
            parts.append("".join(buf))
        return parts

    def heredoc(self):
        m = re.match(r"<<(-?)([A-Za-z_][A-Za-z0-9_-]*)[ \t]*\n", self.src[self.i :])
        indented, marker = m.group(1) == "-", m.group(2)
        line = self.line
        body_start = self.i + m.end()
        end_re = re.compile(r"^[ \t]*" + re.escape(marker) + r"[ \t]*$", re.M)
        end = end_re.search(self.src, body_start)
        if not end:
            self.error(f"unterminated heredoc <<{marker}")
        self.i = body_start
        self.line += 1
        parts = self.template(quoted=False, end=end.start())
        self.i = end.end()
        return Tok("heredoc", {"parts": parts, "indented": indented}, line)


# --------------------------------------------------------------------------
# Bodies: attributes (their expression tokens, parsed when evaluated) and
# blocks, in source order.


class Attr:
    def __init__(self, name, toks, fname, line):
        self.name, self.toks, self.fname, self.line = name, toks, fname, line
        self._expr = None

    @property
    def where(self):
        return f"{self.fname}:{self.line}"

    def expr(self):
        if self._expr is None:
            self._expr = parse_expression(self.toks, self.where)
        return self._expr


class Block:
    def __init__(self, btype, labels, body, fname, line):
        self.type, self.labels, self.body, self.fname, self.line = btype, labels, body, fname, line

    @property
    def where(self):
        return f"{self.fname}:{self.line}"


class Body:
    def __init__(self):
        self.attrs = {}
        self.blocks = []

    def blocks_of(self, btype):
        return [b for b in self.blocks if b.type == btype]


def parse_body(toks, i, fname, closing):
    """Parses a body from toks[i]; returns (Body, index after it)."""
    body = Body()
    while True:
        t = toks[i]
        if t.kind == "nl":
            i += 1
            continue
        if t.kind == "eof":
            if closing:
                raise RenderError(f"{fname}:{t.line}: unterminated block")
            return body, i
        if t.is_op("}"):
            if not closing:
                raise RenderError(f"{fname}:{t.line}: unexpected }}")
            return body, i + 1
        if t.kind != "ident":
            raise RenderError(f"{fname}:{t.line}: expected an attribute or a block, found {t.value!r}")
        name, line = t.value, t.line
        i += 1
        if toks[i].is_op("="):
            i += 1
            start, depth = i, 0
            while True:
                u = toks[i]
                if u.kind == "eof" or (depth == 0 and (u.kind == "nl" or u.is_op("}"))):
                    break
                if u.is_op("(", "[", "{"):
                    depth += 1
                elif u.is_op(")", "]", "}"):
                    if depth == 0:
                        raise RenderError(f"{fname}:{u.line}: unbalanced {u.value}")
                    depth -= 1
                i += 1
            if name in body.attrs:
                raise RenderError(f"{fname}:{line}: attribute {name} set twice")
            body.attrs[name] = Attr(name, toks[start:i], fname, line)
            continue
        labels = []
        while not toks[i].is_op("{"):
            u = toks[i]
            if u.kind == "ident":
                labels.append(u.value)
            elif u.kind == "string" and all(isinstance(p, str) for p in u.value):
                labels.append("".join(u.value))
            else:
                raise RenderError(f"{fname}:{u.line}: bad block header for {name}")
            i += 1
        inner, i = parse_body(toks, i + 1, fname, closing=True)
        body.blocks.append(Block(name, labels, inner, fname, line))


def parse_file(path):
    src = path.read_text()
    toks = Lexer(src, path.name).tokens()
    body, _ = parse_body(toks, 0, path.name, closing=False)
    return body


# --------------------------------------------------------------------------
# Expressions: tuples ("lit", v) ("tmpl", parts) ("ref", root, steps)
# ("call", name, args) ("list", items) ("obj", [(k, v)]) ("cond", c, a, b)
# ("binop", op, a, b) ("unop", op, x) ("post", node, steps)
# ("for", keyvar, valvar, coll, expr, cond) ("unsupported", what).
# Steps: ("attr", name) ("index", node) ("splat",).


class ExprParser:
    LEVELS = [("||",), ("&&",), ("==", "!="), ("<", ">", "<=", ">="), ("+", "-"), ("*", "/", "%")]

    def __init__(self, toks, where):
        self.toks = [t for t in toks if t.kind not in ("nl", "eof")] + [Tok("eof", "end of expression", 0)]
        self.i = 0
        self.where = where

    def error(self, msg):
        raise RenderError(f"{self.where}: {msg}")

    def peek(self, *ops):
        return self.toks[self.i].is_op(*ops)

    def take(self, op=None):
        t = self.toks[self.i]
        if op is not None and not t.is_op(op):
            self.error(f"expected {op!r}, found {t.value!r}")
        self.i += 1
        return t

    def parse(self):
        if self.toks[0].kind == "eof":
            self.error("empty expression")
        node = self.expression()
        if self.toks[self.i].kind != "eof":
            self.error(f"unexpected {self.toks[self.i].value!r}")
        return node

    def expression(self):
        cond = self.binary(0)
        if self.peek("?"):
            self.take("?")
            a = self.expression()
            self.take(":")
            b = self.expression()
            return ("cond", cond, a, b)
        return cond

    def binary(self, level):
        if level == len(self.LEVELS):
            return self.unary()
        node = self.binary(level + 1)
        while self.peek(*self.LEVELS[level]):
            op = self.take().value
            node = ("binop", op, node, self.binary(level + 1))
        return node

    def unary(self):
        if self.peek("!", "-"):
            op = self.take().value
            return ("unop", op, self.unary())
        return self.postfix(self.primary())

    def postfix(self, node):
        steps = []
        while True:
            if self.peek("."):
                self.take(".")
                t = self.take()
                if t.is_op("*"):
                    steps.append(("splat",))
                elif t.kind == "ident":
                    steps.append(("attr", t.value))
                elif t.kind == "number" and isinstance(t.value, int):
                    steps.append(("index", ("lit", t.value)))
                else:
                    self.error(f"bad attribute access .{t.value}")
            elif self.peek("["):
                self.take("[")
                if self.peek("*"):
                    self.take("*")
                    steps.append(("splat",))
                else:
                    steps.append(("index", self.expression()))
                self.take("]")
            else:
                break
        if not steps:
            return node
        if node[0] == "ref":
            return ("ref", node[1], node[2] + steps)
        return ("post", node, steps)

    def primary(self):
        t = self.take()
        if t.kind == "number":
            return ("lit", t.value)
        if t.kind == "string":
            return ("tmpl", self.template_parts(t.value))
        if t.kind == "heredoc":
            return ("unsupported", "heredoc")
        if t.kind == "ident":
            if t.value == "true":
                return ("lit", True)
            if t.value == "false":
                return ("lit", False)
            if t.value == "null":
                return ("lit", None)
            if self.peek("("):
                self.take("(")
                args = []
                while not self.peek(")"):
                    args.append(self.expression())
                    if self.peek("..."):
                        self.error(f"argument expansion (...) in {t.value}()")
                    if not self.peek(")"):
                        self.take(",")
                self.take(")")
                return ("call", t.value, args)
            return ("ref", t.value, [])
        if t.is_op("("):
            node = self.expression()
            self.take(")")
            return node
        if t.is_op("["):
            if self.toks[self.i].kind == "ident" and self.toks[self.i].value == "for":
                return self.for_expr("]")
            items = []
            while not self.peek("]"):
                items.append(self.expression())
                if not self.peek("]"):
                    self.take(",")
            self.take("]")
            return ("list", items)
        if t.is_op("{"):
            if self.toks[self.i].kind == "ident" and self.toks[self.i].value == "for":
                self.for_expr("}")
                return ("unsupported", "a `for` expression that builds an object")
            items = []
            while not self.peek("}"):
                k = self.toks[self.i]
                if k.kind == "ident" and self.toks[self.i + 1].is_op("=", ":"):
                    self.take()
                    key = ("lit", k.value)
                else:
                    key = self.expression()
                if not self.peek("=", ":"):
                    self.error("object item without = or :")
                self.take()
                items.append((key, self.expression()))
                if self.peek(","):
                    self.take(",")
            self.take("}")
            return ("obj", items)
        self.error(f"unexpected {t.value!r}")

    def for_expr(self, closing):
        self.take()  # for
        names = [self.take().value]
        if self.peek(","):
            self.take(",")
            names.append(self.take().value)
        t = self.take()
        if not (t.kind == "ident" and t.value == "in"):
            self.error("expected `in` in a for expression")
        coll = self.expression()
        self.take(":")
        if closing == "}":
            self.expression()
            self.take("=>")
        body = self.expression()
        if closing == "}" and self.peek("..."):
            self.take("...")
        cond = None
        if self.toks[self.i].kind == "ident" and self.toks[self.i].value == "if":
            self.take()
            cond = self.expression()
        self.take(closing)
        keyvar, valvar = (names[0], names[1]) if len(names) == 2 else (None, names[0])
        return ("for", keyvar, valvar, coll, body, cond)

    def template_parts(self, parts):
        out = []
        for p in parts:
            if isinstance(p, str):
                out.append(p)
            elif p[0] == "interp":
                out.append(ExprParser(p[1], f"{self.where}").parse())
            else:
                out.append(("unsupported", f"template directive {p[1]}"))
        return out


def parse_expression(toks, where):
    return ExprParser(toks, where).parse()


# --------------------------------------------------------------------------
# The module.


class Module:
    def __init__(self, directory):
        self.dir = Path(directory)
        files = sorted(self.dir.glob("*.tf"))
        if not files:
            raise RenderError(f"{self.dir}: no *.tf files")
        self.variables, self.locals, self.data, self.resources = {}, {}, {}, {}
        for path in files:
            body = parse_file(path)
            for block in body.blocks:
                if block.type == "variable":
                    self._add(self.variables, block.labels[0], block, block)
                elif block.type == "locals":
                    for name, attr in block.body.attrs.items():
                        self._add(self.locals, name, attr, attr)
                elif block.type in ("data", "resource"):
                    table = self.data if block.type == "data" else self.resources
                    if len(block.labels) != 2:
                        raise RenderError(f"{block.where}: {block.type} block without two labels")
                    self._add(table, tuple(block.labels), block, block)
        self.files = files
        self.cross_checked = set()  # documents python-hcl2 agreed on

    @staticmethod
    def _add(table, key, value, at):
        if key in table:
            raise RenderError(f"{at.where}: {key} is declared twice")
        table[key] = value


# --------------------------------------------------------------------------
# Evaluation.


def number_text(n):
    if isinstance(n, bool) or not isinstance(n, (int, float)):
        raise RenderError(f"not a number: {n!r}")
    if isinstance(n, float):
        if n != n or n in (float("inf"), float("-inf")):
            raise RenderError(f"{n} is not a Terraform number")
        if n.is_integer():
            return str(int(n))
        return format(Decimal(repr(n)), "f")  # cty: big.Float.Text('f', -1), never an exponent
    return str(n)


def to_string(v, what):
    """Terraform's conversion of a primitive to string."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return number_text(v)
    if v is None:
        raise RenderError(f"{what} is null")
    raise RenderError(f"{what} is a {type_name(v)}, not a string")


def type_name(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "list"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__


def tf_equal(a, b):
    """Terraform's == : values of different types are different."""
    if type_name(a) != type_name(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(tf_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(tf_equal(a[k], b[k]) for k in a)
    return a == b


def partition_of(region):
    if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-[0-9]+", region):
        raise RenderError(f"--region {region!r} is not a region name (e.g. us-east-1)")
    for prefix, partition in (("cn-", "aws-cn"), ("us-gov-", "aws-us-gov"), ("us-isob-", "aws-iso-b"), ("us-iso-", "aws-iso"), ("eu-isoe-", "aws-iso-e"), ("us-isof-", "aws-iso-f")):
        if region.startswith(prefix):
            return partition
    return "aws"


class Evaluator:
    def __init__(self, module, variables, refs):
        """variables: {name: value} given on the command line; refs:
        {"data.aws_region.current.name": "us-east-1", ...}."""
        self.module = module
        self.refs = dict(refs)
        self.vars = {}
        for name, value in variables.items():
            block = module.variables.get(name)
            if block is None:
                raise RenderError(f"--var {name}: the module declares no variable {name!r}")
            self.vars[name] = convert(value, variable_type(block), f"var.{name}")
        self._locals = {}
        self._evaluating = set()
        for address in self.refs:
            self.check_declared(address)

    def check_declared(self, address):
        parts = address.split(".")
        if parts[0] == "data":
            key, kind = tuple(parts[1:3]), "data"
            block = self.module.data.get(key)
        else:
            key, kind = tuple(parts[0:2]), "resource"
            block = self.module.resources.get(key)
        if len(parts) < (4 if kind == "data" else 3):
            raise RenderError(f"reference {address}: expected {'data.TYPE.NAME.ATTRIBUTE' if kind == 'data' else 'TYPE.NAME.ATTRIBUTE'}")
        if block is None:
            return  # given but not used by this module: harmless
        for meta in ("count", "for_each"):
            if meta in block.body.attrs:
                raise RenderError(f"{block.where}: {address.rsplit('.', 1)[0]} has {meta}: its attributes need an index the renderer does not model")

    # -- references --------------------------------------------------------

    def local(self, name, where):
        if name in self._locals:
            return self._locals[name]
        attr = self.module.locals.get(name)
        if attr is None:
            raise RenderError(f"{where}: local.{name} is not declared")
        if name in self._evaluating:
            raise RenderError(f"{attr.where}: local.{name} refers to itself")
        self._evaluating.add(name)
        value = self.eval(attr.expr(), {}, attr.where)
        self._evaluating.discard(name)
        self._locals[name] = value
        return value

    def ref(self, root, steps, scope, where):
        if root in scope:
            return self.traverse(scope[root], steps, scope, where, root)
        if root == "var":
            if not steps or steps[0][0] != "attr":
                raise RenderError(f"{where}: bad reference var")
            name = steps[0][1]
            block = self.module.variables.get(name)
            if block is None:
                raise RenderError(f"{where}: var.{name} is not declared")
            if name not in self.vars:
                default = block.body.attrs.get("default")
                if default is None:
                    raise RenderError(f"{where}: var.{name} has no default: pass --var {name}=...")
                self.vars[name] = convert(self.eval(default.expr(), {}, default.where), variable_type(block), f"var.{name} (default)")
            return self.traverse(self.vars[name], steps[1:], scope, where, f"var.{name}")
        if root == "local":
            if not steps or steps[0][0] != "attr":
                raise RenderError(f"{where}: bad reference local")
            return self.traverse(self.local(steps[0][1], where), steps[1:], scope, where, f"local.{steps[0][1]}")
        n = 3 if root == "data" else 2
        names = [root]
        for step in steps[:n]:
            if step[0] != "attr":
                break
            names.append(step[1])
        address = ".".join(names)
        if len(names) == n + 1 and address in self.refs:
            declared = self.module.data if root == "data" else self.module.resources
            key = tuple(names[1:3]) if root == "data" else tuple(names[0:2])
            if key not in declared:
                raise RenderError(f"{where}: {address} refers to {'data.' if root == 'data' else ''}{'.'.join(key)}, which the module does not declare")
            return self.traverse(self.refs[address], steps[n:], scope, where, address)
        if any(step[0] == "splat" for step in steps):
            raise RenderError(f"{where}: splat expressions ({root}...[*]) are not supported")
        if root in ("path", "terraform", "count", "each", "self", "module"):
            raise RenderError(f"{where}: {address}: {root}.* references are not modelled")
        hints = (
            (r"data\.aws_caller_identity\.[^.]+\.account_id", "pass --account"),
            (r"data\.aws_region\.[^.]+\.(name|region)", "pass --region"),
            (r"data\.aws_partition\.[^.]+\.partition", "pass --region or --partition"),
            (r"aws_iam_role\.instance\.arn", "pass --instance-role-arn"),
        )
        hint = next((h for pattern, h in hints if re.fullmatch(pattern, address)), f"give it with --ref {address}=VALUE if it is an attribute")
        raise RenderError(f"{where}: {address} is not known to the renderer ({hint})")

    def traverse(self, value, steps, scope, where, path):
        for step in steps:
            if step[0] == "splat":
                raise RenderError(f"{where}: splat expressions ({path}[*]) are not supported")
            if step[0] == "attr":
                if not isinstance(value, dict):
                    raise RenderError(f"{where}: {path} is a {type_name(value)}, it has no attribute {step[1]}")
                if step[1] not in value:
                    raise RenderError(f"{where}: {path} has no attribute {step[1]}")
                value = value[step[1]]
                path += "." + step[1]
            else:
                idx = self.eval(step[1], scope, where)
                if isinstance(value, list):
                    if isinstance(idx, bool) or not isinstance(idx, (int, float)) or not float(idx).is_integer():
                        raise RenderError(f"{where}: {path}[{idx!r}]: a list index must be a whole number")
                    if not 0 <= int(idx) < len(value):
                        raise RenderError(f"{where}: {path}[{idx!r}]: out of range")
                    value = value[int(idx)]
                elif isinstance(value, dict):
                    key = to_string(idx, f"{path}[...] key")
                    if key not in value:
                        raise RenderError(f"{where}: {path}[{key!r}]: no such key")
                    value = value[key]
                else:
                    raise RenderError(f"{where}: {path} is a {type_name(value)}, it cannot be indexed")
                path += f"[{idx!r}]"
        return value

    # -- expressions -------------------------------------------------------

    def eval(self, node, scope, where):
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "tmpl":
            parts = node[1]
            if len(parts) == 1 and not isinstance(parts[0], str):
                return self.eval(parts[0], scope, where)  # "${x}" is x, of its own type
            out = []
            for p in parts:
                if isinstance(p, str):
                    out.append(p)
                else:
                    v = self.eval(p, scope, where)
                    if v is None:
                        raise RenderError(f"{where}: null in a string template")
                    out.append(to_string(v, "a template interpolation"))
            return "".join(out)
        if kind == "list":
            return [self.eval(x, scope, where) for x in node[1]]
        if kind == "obj":
            out = {}
            for k, v in node[1]:
                key = self.eval(k, scope, where)
                if key is None:
                    raise RenderError(f"{where}: null object key")
                out[to_string(key, "an object key")] = self.eval(v, scope, where)
            return out
        if kind == "ref":
            return self.ref(node[1], node[2], scope, where)
        if kind == "post":
            return self.traverse(self.eval(node[1], scope, where), node[2], scope, where, "(expression)")
        if kind == "cond":
            c = self.eval(node[1], scope, where)
            if not isinstance(c, bool):
                raise RenderError(f"{where}: the condition of ?: is a {type_name(c)}, not a bool")
            return self.eval(node[2] if c else node[3], scope, where)
        if kind == "unop":
            x = self.eval(node[2], scope, where)
            if node[1] == "!":
                if not isinstance(x, bool):
                    raise RenderError(f"{where}: ! of a {type_name(x)}")
                return not x
            raise RenderError(f"{where}: arithmetic (unary -) is not supported")
        if kind == "binop":
            return self.binop(node, scope, where)
        if kind == "call":
            return self.call(node[1], node[2], scope, where)
        if kind == "for":
            return self.for_expr(node, scope, where)
        if kind == "unsupported":
            raise RenderError(f"{where}: {node[1]} is not supported")
        raise RenderError(f"{where}: expression {kind} is not supported")

    def binop(self, node, scope, where):
        op = node[1]
        if op in ("&&", "||"):
            a = self.eval(node[2], scope, where)
            b = self.eval(node[3], scope, where)  # HCL evaluates both sides
            if not (isinstance(a, bool) and isinstance(b, bool)):
                raise RenderError(f"{where}: {op} of a {type_name(a)} and a {type_name(b)}")
            return (a and b) if op == "&&" else (a or b)
        a = self.eval(node[2], scope, where)
        b = self.eval(node[3], scope, where)
        if op == "==":
            return tf_equal(a, b)
        if op == "!=":
            return not tf_equal(a, b)
        if op in ("<", ">", "<=", ">="):
            for x in (a, b):
                if isinstance(x, bool) or not isinstance(x, (int, float)):
                    raise RenderError(f"{where}: {op} of a {type_name(x)}")
            return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]
        raise RenderError(f"{where}: arithmetic ({op}) is not supported")

    def call(self, name, arg_nodes, scope, where):
        args = [self.eval(a, scope, where) for a in arg_nodes]
        if name == "merge":
            out = {}
            for a in args:
                if a is None:
                    continue
                if not isinstance(a, dict):
                    raise RenderError(f"{where}: merge() of a {type_name(a)}")
                out.update(a)
            return out
        if name == "tostring":
            if len(args) != 1:
                raise RenderError(f"{where}: tostring() takes one argument")
            if args[0] is None:
                return None
            if isinstance(args[0], (list, dict)):
                raise RenderError(f"{where}: tostring() of a {type_name(args[0])}")
            return to_string(args[0], "tostring()'s argument")
        if name == "length":
            if len(args) != 1 or not isinstance(args[0], (list, dict, str)):
                raise RenderError(f"{where}: length() takes one list, map or string")
            if isinstance(args[0], str) and not args[0].isascii():
                raise RenderError(f"{where}: length() of a non-ASCII string (grapheme clusters) is not modelled")
            return len(args[0])
        if name == "concat":
            out = []
            for a in args:
                if not isinstance(a, list):
                    raise RenderError(f"{where}: concat() of a {type_name(a)}")
                out.extend(a)
            return out
        raise RenderError(f"{where}: function {name}() is not supported by the renderer")

    def for_expr(self, node, scope, where):
        _, keyvar, valvar, coll_node, body, cond = node
        coll = self.eval(coll_node, scope, where)
        if isinstance(coll, list):
            items = list(enumerate(coll))
        elif isinstance(coll, dict):
            items = sorted(coll.items())
        else:
            raise RenderError(f"{where}: for over a {type_name(coll)}")
        out = []
        for k, v in items:
            inner = dict(scope)
            inner[valvar] = v
            if keyvar is not None:
                inner[keyvar] = k
            if cond is not None:
                c = self.eval(cond, inner, where)
                if not isinstance(c, bool):
                    raise RenderError(f"{where}: the if of a for expression is a {type_name(c)}")
                if not c:
                    continue
            out.append(self.eval(body, inner, where))
        return out

    def value(self, attr, scope):
        return self.eval(attr.expr(), scope, attr.where)


# --------------------------------------------------------------------------
# aws_iam_policy_document, as terraform-provider-aws builds it.

STATEMENT_ATTRS = {"sid", "effect", "actions", "not_actions", "resources", "not_resources"}
STATEMENT_BLOCKS = {"principals", "not_principals", "condition"}


def expand(body, btype, scope, ev):
    """[(Body, scope)] of the `btype` blocks of body, static and dynamic, in
    source order (HCL expands a dynamic block where it stands)."""
    out = []
    for block in body.blocks:
        if block.type == btype:
            if block.labels:
                raise RenderError(f"{block.where}: {btype} block with labels")
            out.append((block.body, scope))
        elif block.type == "dynamic" and block.labels == [btype]:
            attrs = block.body.attrs
            unknown = set(attrs) - {"for_each", "iterator"}
            if unknown or any(b.type != "content" for b in block.body.blocks):
                raise RenderError(f"{block.where}: dynamic \"{btype}\": only for_each, iterator and content are supported (found {sorted(unknown) or [b.type for b in block.body.blocks]})")
            contents = block.body.blocks_of("content")
            if len(contents) != 1:
                raise RenderError(f"{block.where}: dynamic \"{btype}\" needs exactly one content block")
            if "for_each" not in attrs:
                raise RenderError(f"{block.where}: dynamic \"{btype}\" without for_each")
            iterator = btype
            if "iterator" in attrs:
                toks = [t for t in attrs["iterator"].toks if t.kind != "nl"]
                if len(toks) != 1 or toks[0].kind != "ident":
                    raise RenderError(f"{attrs['iterator'].where}: iterator must be a bare name")
                iterator = toks[0].value
            coll = ev.value(attrs["for_each"], scope)
            if isinstance(coll, list):
                items = list(enumerate(coll))
            elif isinstance(coll, dict):
                items = sorted(coll.items())  # maps iterate in key order
            else:
                raise RenderError(f"{attrs['for_each'].where}: for_each is a {type_name(coll)}, not a list or map")
            for k, v in items:
                inner = dict(scope)
                inner[iterator] = {"key": k, "value": v}
                out.append((contents[0].body, inner))
    return out


def check_keys(body, attrs, blocks, what, where):
    extra = set(body.attrs) - attrs
    dynamic_labels = {tuple(b.labels) for b in body.blocks if b.type == "dynamic"}
    extra_blocks = {b.type for b in body.blocks if b.type != "dynamic"} - blocks
    extra_dynamic = {lab for lab in dynamic_labels if len(lab) != 1 or lab[0] not in blocks}
    if extra or extra_blocks or extra_dynamic:
        found = sorted(extra) + sorted(extra_blocks) + [f'dynamic "{" ".join(lab)}"' for lab in sorted(extra_dynamic)]
        raise RenderError(f"{where}: {what}: {', '.join(found)} not supported by the renderer")


def string_attr(body, name, scope, ev, default=None, required=False, what=""):
    attr = body.attrs.get(name)
    if attr is None:
        if required:
            raise RenderError(f"{what}: {name} is required")
        return default
    v = ev.value(attr, scope)
    if v is None:
        if required:
            raise RenderError(f"{attr.where}: {name} is null")
        return default
    if isinstance(v, (list, dict)):
        raise RenderError(f"{attr.where}: {name} is a {type_name(v)}, not a string")
    return to_string(v, name)


def string_list_attr(body, name, scope, ev, required=False, what=""):
    """A list(string) or set(string) argument: [str] or None when unset."""
    attr = body.attrs.get(name)
    if attr is None:
        if required:
            raise RenderError(f"{what}: {name} is required")
        return None
    v = ev.value(attr, scope)
    if v is None:
        if required:
            raise RenderError(f"{attr.where}: {name} is null")
        return None
    if not isinstance(v, list):
        raise RenderError(f"{attr.where}: {name} is a {type_name(v)}, not a list of strings")
    out = []
    for x in v:
        if x is None or isinstance(x, (list, dict)):
            raise RenderError(f"{attr.where}: {name} holds a {type_name(x)}")
        out.append(to_string(x, f"an element of {name}"))
    return out


def as_set(values):
    """A set(string) as the provider writes it: one element -> that string;
    several -> sorted, reversed."""
    values = sorted(set(values))
    if len(values) == 1:
        return values[0]
    values.reverse()
    return values


def replace_vars(v):
    if isinstance(v, list):
        return [x.replace("&{", "${") for x in v]
    return v.replace("&{", "${")


def principals(body, btype, scope, ev, where):
    blocks = expand(body, btype, scope, ev)
    if not blocks:
        return None
    entries = []
    for pbody, pscope in blocks:
        check_keys(pbody, {"type", "identifiers"}, set(), btype, where)
        ptype = string_attr(pbody, "type", pscope, ev, required=True, what=f"{where}: {btype}")
        identifiers = string_list_attr(pbody, "identifiers", pscope, ev, required=True, what=f"{where}: {btype}")
        entries.append((ptype, identifiers))
    types = [t for t, _ in entries]
    dup = sorted({t for t in types if types.count(t) > 1})
    if dup:
        raise RenderError(f"{where}: several {btype} blocks of type {dup[0]}: the provider merges them in set-hash order; the renderer does not guess it")
    if len(entries) == 1 and entries[0][0] == "*" and set(entries[0][1]) == {"*"}:
        return "*"
    return {t: replace_vars(as_set(ids)) for t, ids in sorted(entries)}


def conditions(body, scope, ev, where):
    blocks = expand(body, "condition", scope, ev)
    merged = {}
    seen = {}
    for cbody, cscope in blocks:
        check_keys(cbody, {"test", "variable", "values"}, set(), "condition", where)
        test = string_attr(cbody, "test", cscope, ev, required=True, what=f"{where}: condition")
        variable = string_attr(cbody, "variable", cscope, ev, required=True, what=f"{where}: condition")
        values = string_list_attr(cbody, "values", cscope, ev, required=True, what=f"{where}: condition")
        key = (test, variable)
        if key in seen:
            if seen[key] == values:
                continue  # the same block twice: one element of the set
            raise RenderError(f"{where}: two conditions on {test} {variable}: the provider merges their values in set-hash order; the renderer does not guess it")
        seen[key] = values
        values = replace_vars(values)
        merged.setdefault(test, {})[variable] = values[0] if len(values) == 1 else values
    if not merged:
        return None
    return {t: dict(sorted(v.items())) for t, v in sorted(merged.items())}


def render_statement(body, scope, ev, index):
    where = f"{body_where(body)} (statement {index})"
    check_keys(body, STATEMENT_ATTRS, STATEMENT_BLOCKS, "statement", where)
    st = {}
    sid = string_attr(body, "sid", scope, ev, default="")
    if not re.fullmatch(r"[a-zA-Z0-9]*", sid):
        raise RenderError(f"{where}: sid {sid!r}: only letters and digits")
    effect = string_attr(body, "effect", scope, ev, default="Allow")
    if effect not in ("Allow", "Deny"):
        raise RenderError(f"{where}: effect {effect!r} is neither Allow nor Deny")
    if sid:
        st["Sid"] = sid
    st["Effect"] = effect
    for name, key, replace in (("actions", "Action", False), ("not_actions", "NotAction", False), ("resources", "Resource", True), ("not_resources", "NotResource", True)):
        values = string_list_attr(body, name, scope, ev)
        if values:
            st[key] = replace_vars(as_set(values)) if replace else as_set(values)
    for btype, key in (("principals", "Principal"), ("not_principals", "NotPrincipal")):
        p = principals(body, btype, scope, ev, where)
        if p is not None:
            st[key] = p
    c = conditions(body, scope, ev, where)
    if c is not None:
        st["Condition"] = c
    return st


def body_where(body):
    for a in body.attrs.values():
        return a.where
    for b in body.blocks:
        return b.where
    return "?"


def render_document(module, ev, name=DOCUMENT):
    block = module.data.get(("aws_iam_policy_document", name))
    if block is None:
        raise RenderError(f'{module.dir}: no data "aws_iam_policy_document" "{name}"')
    doc_body = block.body
    for meta in ("count", "for_each"):
        if meta in doc_body.attrs:
            raise RenderError(f"{block.where}: the policy document has {meta}")
    check_keys(doc_body, {"version", "policy_id"}, {"statement"}, f'data "aws_iam_policy_document" "{name}"', block.where)
    version = string_attr(doc_body, "version", {}, ev, default="2012-10-17")
    if version != "2012-10-17":
        raise RenderError(f"{block.where}: version {version!r}: only 2012-10-17 is modelled")
    doc = {"Version": version}
    policy_id = string_attr(doc_body, "policy_id", {}, ev, default="")
    if policy_id:
        doc["Id"] = policy_id
    statements, sids = [], set()
    for i, (body, scope) in enumerate(expand(doc_body, "statement", {}, ev)):
        st = render_statement(body, scope, ev, i)
        sid = st.get("Sid", "")
        if sid:
            if sid in sids:
                raise RenderError(f"{block.where}: duplicate Sid {sid}: the provider refuses it")
            sids.add(sid)
        statements.append(st)
    if statements:
        doc["Statement"] = statements
    return doc


# --------------------------------------------------------------------------
# JSON the way Go's encoding/json writes it.


def go_string(s):
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif o < 0x20 or ch in "<>&" or o in (0x2028, 0x2029):
            out.append("\\u%04x" % o)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def go_json(v, indent="  ", level=0, minified=False):
    if isinstance(v, str):
        return go_string(v)
    if isinstance(v, bool) or v is None or isinstance(v, (int, float)):
        raise RenderError(f"unexpected {type_name(v)} in the policy")
    if isinstance(v, dict):
        items = list(v.items())
        if not items:
            return "{}"
        if minified:
            return "{" + ",".join(f"{go_string(k)}:{go_json(x, minified=True)}" for k, x in items) + "}"
        pad, inner = indent * level, indent * (level + 1)
        return "{\n" + ",\n".join(f"{inner}{go_string(k)}: {go_json(x, indent, level + 1)}" for k, x in items) + "\n" + pad + "}"
    if isinstance(v, list):
        if not v:
            return "[]"
        if minified:
            return "[" + ",".join(go_json(x, minified=True) for x in v) + "]"
        pad, inner = indent * level, indent * (level + 1)
        return "[\n" + ",\n".join(f"{inner}{go_json(x, indent, level + 1)}" for x in v) + "\n" + pad + "]"
    raise RenderError(f"unexpected {type(v).__name__} in the policy")


# --------------------------------------------------------------------------
# The cross-check with python-hcl2.


def hcl2_cross_check(module, name=DOCUMENT):
    """Every file parses with python-hcl2, which finds the same number of
    statement and dynamic "statement" blocks in the document."""
    try:
        import hcl2
    except ImportError:
        raise RenderError("python-hcl2 is not installed (scripts/test-infra.sh installs it into its virtualenv)")

    def unquote(s):
        return s[1:-1] if isinstance(s, str) and len(s) >= 2 and s[0] == s[-1] == '"' else s

    found = None
    for path in module.files:
        try:
            with open(path) as f:
                parsed = hcl2.load(f)
        except Exception as e:  # noqa: BLE001 - any parse failure is fatal here
            raise RenderError(f"{path.name}: python-hcl2 cannot parse it: {e}")
        for data in parsed.get("data", []):
            for dtype, named in data.items():
                if unquote(dtype) != "aws_iam_policy_document" or not isinstance(named, dict):
                    continue
                for dname, body in named.items():
                    if unquote(dname) == name:
                        found = body
    if found is None:
        raise RenderError(f'python-hcl2 finds no data "aws_iam_policy_document" "{name}"')
    static = len(found.get("statement", []))
    dynamic = sum(1 for d in found.get("dynamic", []) for label in d if unquote(label) == "statement")
    block = module.data[("aws_iam_policy_document", name)]
    mine_static = len(block.body.blocks_of("statement"))
    mine_dynamic = sum(1 for b in block.body.blocks if b.type == "dynamic" and b.labels == ["statement"])
    if (static, dynamic) != (mine_static, mine_dynamic):
        raise RenderError(
            f"python-hcl2 reads {static} statement and {dynamic} dynamic \"statement\" blocks in the document, the renderer {mine_static} and {mine_dynamic}"
        )


# --------------------------------------------------------------------------
# Command line.


def variable_type(block):
    """The type constraint of a variable block, parsed: "string", "number",
    "bool", ("list", T), ("map", T), ("object", {name: (T, optional)}) (no
    type: "string", as Terraform reads -var values)."""
    attr = block.body.attrs.get("type")
    if attr is None:
        return "string"
    toks = [t for t in attr.toks if t.kind != "nl"] + [Tok("eof", None, attr.line)]
    pos = [0]

    def take(kind=None, value=None):
        t = toks[pos[0]]
        if (kind and t.kind != kind) or (value is not None and t.value != value):
            raise RenderError(f"{attr.where}: cannot read the type constraint near {t.value!r}")
        pos[0] += 1
        return t

    def parse(allow_optional=False):
        name = take("ident").value
        if name in ("string", "number", "bool"):
            return name
        if name in ("list", "set", "map") or (name == "optional" and allow_optional):
            take("op", "(")
            inner = parse()
            if name == "optional" and toks[pos[0]].is_op(","):
                raise RenderError(f"{attr.where}: optional() with a default is not supported by the renderer")
            take("op", ")")
            if name == "optional":
                return ("optional", inner)
            if name == "set":
                raise RenderError(f"{attr.where}: set() variables are not supported by the renderer")
            return (name, inner)
        if name == "object":
            take("op", "(")
            take("op", "{")
            attrs = {}
            while not toks[pos[0]].is_op("}"):
                key = take("ident").value
                take("op", "=")
                t = parse(allow_optional=True)
                optional = isinstance(t, tuple) and t[0] == "optional"
                attrs[key] = (t[1] if optional else t, optional)
                if toks[pos[0]].is_op(","):
                    take("op", ",")
            take("op", "}")
            take("op", ")")
            return ("object", attrs)
        raise RenderError(f"{attr.where}: variables of type {name} are not supported by the renderer")

    parsed = parse()
    take("eof")
    return parsed


def type_text(t):
    if isinstance(t, str):
        return t
    if t[0] == "object":
        return "object({" + ", ".join(f"{k} = {('optional(' + type_text(v) + ')') if opt else type_text(v)}" for k, (v, opt) in t[1].items()) + "})"
    return f"{t[0]}({type_text(t[1])})"


def convert(value, typ, what):
    """Terraform's conversion of a value to a variable's type (null stays
    null; an object's missing optional attributes become null, attributes the
    type does not name are dropped, as Terraform drops them)."""
    if value is None:
        return None
    if typ == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RenderError(f"{what}: {value!r} is not a number")
        return value
    if typ == "bool":
        if not isinstance(value, bool):
            raise RenderError(f"{what}: {value!r} is not a bool")
        return value
    if typ == "string":
        if isinstance(value, (list, dict)):
            raise RenderError(f"{what}: a {type_name(value)} is not a string")
        return to_string(value, what)
    if typ[0] == "list":
        if not isinstance(value, list):
            raise RenderError(f"{what}: {type_text(typ)} wants a list, not a {type_name(value)}")
        return [convert_element(x, typ[1], f"{what}[{i}]") for i, x in enumerate(value)]
    if typ[0] == "map":
        if not isinstance(value, dict):
            raise RenderError(f"{what}: {type_text(typ)} wants a map, not a {type_name(value)}")
        return {k: convert_element(x, typ[1], what) for k, x in value.items()}
    if typ[0] == "object":
        if not isinstance(value, dict):
            raise RenderError(f"{what}: {type_text(typ)} wants an object, not a {type_name(value)}")
        out = {}
        for k, (t, optional) in typ[1].items():
            if k not in value and not optional:
                raise RenderError(f"{what}: attribute {k!r} is required")
            out[k] = convert(value.get(k), t, f"{what}.{k}")
        return out
    raise RenderError(f"{what}: variables of type {type_text(typ)} are not supported by the renderer")


def convert_element(value, typ, what):
    if value is None:
        raise RenderError(f"{what}: null element")
    return convert(value, typ, what)


def cli_value(module, name, text):
    """A --var value: the text for string variables, JSON otherwise."""
    block = module.variables.get(name)
    if block is None:
        raise RenderError(f"--var {name}: the module declares no variable {name!r}")
    if variable_type(block) == "string":
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise RenderError(f"--var {name}: {type_text(variable_type(block))} wants a JSON value ({e})")


def render(module_dir, variables=None, account=None, region=None, partition=None, instance_role_arn=None, refs=None, document=DOCUMENT):
    """The policy (a dict in the provider's key order). variables: {name:
    value}, converted to each variable's type as Terraform does."""
    module = module_dir if isinstance(module_dir, Module) else Module(module_dir)
    if document not in module.cross_checked:
        hcl2_cross_check(module, document)
        module.cross_checked.add(document)
    table = {}
    for (dtype, dname) in module.data:
        if dtype == "aws_caller_identity" and account is not None:
            if not re.fullmatch(r"[0-9]{12}", account):
                raise RenderError(f"--account {account!r}: 12 digits")
            table[f"data.aws_caller_identity.{dname}.account_id"] = account
        if dtype == "aws_region" and region is not None:
            table[f"data.aws_region.{dname}.name"] = region
            table[f"data.aws_region.{dname}.region"] = region
        if dtype == "aws_partition" and (partition is not None or region is not None):
            table[f"data.aws_partition.{dname}.partition"] = partition or partition_of(region)
    if region is not None:
        partition_of(region)  # validates it
    if instance_role_arn is not None:
        if not re.fullmatch(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+", instance_role_arn):
            raise RenderError(f"--instance-role-arn {instance_role_arn!r} is not an IAM role ARN")
        table["aws_iam_role.instance.arn"] = instance_role_arn
    table.update(refs or {})
    ev = Evaluator(module, variables or {}, table)
    return render_document(module, ev, document)


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="render_kms_policy.py",
        description="Renders the sealing key's aws_iam_policy_document (kms.tf) into the JSON Terraform would produce.",
    )
    ap.add_argument("module_dir")
    ap.add_argument("--var", action="append", default=[], metavar="NAME=VALUE", help="a module variable (JSON for list, map, number and bool types)")
    ap.add_argument("--account", help="data.aws_caller_identity.*.account_id")
    ap.add_argument("--region", help="data.aws_region.*.name")
    ap.add_argument("--partition", help="data.aws_partition.*.partition (default: from --region)")
    ap.add_argument("--instance-role-arn", help="aws_iam_role.instance.arn")
    ap.add_argument("--ref", action="append", default=[], metavar="ADDRESS=VALUE", help="any other referenced attribute, e.g. aws_iam_role.other.arn=arn:...")
    ap.add_argument("--document", default=DOCUMENT, help=f"the aws_iam_policy_document to render (default {DOCUMENT})")
    ap.add_argument("--minified", action="store_true", help="minified_json instead of json")
    args = ap.parse_args(argv)
    try:
        module = Module(args.module_dir)
        variables = {}
        for item in args.var:
            name, sep, text = item.partition("=")
            if not sep or not name:
                raise RenderError(f"--var {item!r}: NAME=VALUE")
            if name in variables:
                raise RenderError(f"--var {name} given twice")
            variables[name] = cli_value(module, name, text)
        refs = {}
        for item in args.ref:
            address, sep, value = item.partition("=")
            if not sep or not re.fullmatch(r"(data\.)?[a-z0-9_]+\.[A-Za-z0-9_-]+\.[a-z0-9_]+", address):
                raise RenderError(f"--ref {item!r}: ADDRESS=VALUE with ADDRESS like aws_iam_role.NAME.arn or data.TYPE.NAME.ATTRIBUTE")
            refs[address] = value
        doc = render(
            module,
            variables,
            account=args.account,
            region=args.region,
            partition=args.partition,
            instance_role_arn=args.instance_role_arn,
            refs=refs,
            document=args.document,
        )
    except RenderError as e:
        print(f"render_kms_policy: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"render_kms_policy: error: {e}", file=sys.stderr)
        return 1
    print(go_json(doc, minified=args.minified))
    return 0


if __name__ == "__main__":
    sys.exit(main())
