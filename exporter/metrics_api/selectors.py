"""Kubernetes label selectors: the grammar and matching of k8s.io/apimachinery/pkg/labels.

`parse("a=b,c in (x,y),!d")` returns a `Selector` whose `matches(labels)` behaves like the
Go `labels.Selector`: `=`/`==`/`!=`, `in`/`notin` (a missing key passes `notin` and `!=`),
bare `key` (exists), `!key` (does not exist), `>`/`<` (integer compare). Keys and values are
validated as Kubernetes does (qualified names, 63-character values); anything malformed
raises `SelectorError`, which the metrics API answers with a 400 BadRequest Status.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

Operator = Literal["=", "==", "!=", "in", "notin", "exists", "!", ">", "<"]


class SelectorError(ValueError):
    """A malformed label selector; the message says what and where."""


# --- key/value validation (k8s.io/apimachinery/pkg/util/validation) -----------------------
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = re.compile(rf"{_DNS1123_LABEL}(\.{_DNS1123_LABEL})*")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")


def label_key_errors(key: str) -> list[str]:
    """Why `key` is not a valid label key (`[prefix/]name`), or [] when it is."""
    errs: list[str] = []
    prefix, slash, name = key.rpartition("/")
    if slash and "/" in prefix:
        return ["a qualified name must consist of an optional DNS subdomain prefix and a name"]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part must be no more than 63 characters")
    elif not _QUALIFIED_NAME.fullmatch(name):
        errs.append(
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must "
            "start and end with an alphanumeric character"
        )
    if slash:
        if not prefix:
            errs.append("prefix part must be non-empty")
        elif len(prefix) > 253:
            errs.append("prefix part must be no more than 253 characters")
        elif not _DNS1123_SUBDOMAIN.fullmatch(prefix):
            errs.append("prefix part must be a lowercase RFC 1123 subdomain")
    return errs


def label_value_errors(value: str) -> list[str]:
    """Why `value` is not a valid label value, or [] when it is (the empty value is valid)."""
    errs = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not _LABEL_VALUE.fullmatch(value):
        errs.append(
            "a valid label must be an empty string or consist of alphanumeric characters, "
            "'-', '_' or '.', and must start and end with an alphanumeric character"
        )
    return errs


# --- requirements ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Requirement:
    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        if op in ("=", "==", "in"):
            return self.key in labels and labels[self.key] in self.values
        if op in ("!=", "notin"):
            return self.key not in labels or labels[self.key] not in self.values
        if op == "exists":
            return self.key in labels
        if op == "!":
            return self.key not in labels
        # > and <: both sides must be integers, or the requirement does not match.
        try:
            have, want = int(labels[self.key]), int(self.values[0])
        except (KeyError, ValueError):
            return False
        return have > want if op == ">" else have < want

    def __str__(self) -> str:
        if self.operator == "exists":
            return self.key
        if self.operator == "!":
            return "!" + self.key
        if self.operator in ("in", "notin"):
            return f"{self.key} {self.operator} ({','.join(sorted(self.values))})"
        return f"{self.key}{self.operator}{self.values[0]}"


def _requirement(key: str, op: Operator, values: list[str]) -> Requirement:
    errs = [f"key {key!r}: {e}" for e in label_key_errors(key)]
    if op in ("in", "notin") and not values:
        errs.append("for 'in', 'notin' operators, values set can't be empty")
    if op in (">", "<"):
        for v in values:
            if not re.fullmatch(r"[+-]?[0-9]+", v):
                errs.append(f"for '>', '<' operators, the value must be an integer, got {v!r}")
    for v in values:
        errs += [f"value {v!r}: {e}" for e in label_value_errors(v)]
    if errs:
        raise SelectorError("; ".join(errs))
    return Requirement(key, op, tuple(sorted(set(values))))


@dataclass(frozen=True)
class Selector:
    """AND of requirements, sorted by key as the Go parser does. Empty matches everything."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)

    def empty(self) -> bool:
        return not self.requirements

    def exact(self) -> dict[str, str]:
        """Labels the selector pins to one value (`k=v`, `k==v`, `k in (v)`)."""
        out: dict[str, str] = {}
        for r in self.requirements:
            if r.operator in ("=", "==", "in") and len(r.values) == 1:
                out.setdefault(r.key, r.values[0])
        return out

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


# --- lexer and parser (a transcription of the Go recursive-descent parser) -------------------
_SPECIAL = set("=!(),><")
_WHITESPACE = set(" \t\r\n")
_SYMBOLS = {")", ",", "!", "==", "=", ">", "<", "!=", "(", "in", "notin"}

# token kinds
END, IDENT, ERROR = "end", "ident", "error"


def _lex(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in _WHITESPACE:
            i += 1
        if i >= n:
            tokens.append((END, ""))
            return tokens
        if text[i] in _SPECIAL:
            # the longest run of special symbols that still forms a known operator
            buf, last = "", None
            while i < n and text[i] in _SPECIAL:
                if buf + text[i] in _SYMBOLS:
                    buf += text[i]
                    last = buf
                    i += 1
                elif last is not None:
                    break
                else:
                    buf += text[i]
                    i += 1
            if last is None:
                tokens.append((ERROR, f"error expected: keyword found '{buf}'"))
            else:
                tokens.append((last, last))
            continue
        start = i
        while i < n and text[i] not in _SPECIAL and text[i] not in _WHITESPACE:
            i += 1
        word = text[start:i]
        tokens.append((word if word in ("in", "notin") else IDENT, word))


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _lex(text)
        self.pos = 0

    def _tok(self, values_ctx: bool) -> tuple[str, str]:
        kind, lit = self.tokens[self.pos]
        if values_ctx and kind in ("in", "notin"):
            kind = IDENT  # `in` and `notin` are plain words where values are expected
        return kind, lit

    def peek(self, values_ctx: bool = True) -> tuple[str, str]:
        return self._tok(values_ctx)

    def take(self, values_ctx: bool = True) -> tuple[str, str]:
        tok = self._tok(values_ctx)
        self.pos += 1
        return tok

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while True:
            kind, lit = self.peek()
            if kind == END:
                return reqs
            if kind not in (IDENT, "!"):
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")
            reqs.append(self.requirement())
            kind, lit = self.take()
            if kind == END:
                return reqs
            if kind != ",":
                raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
            kind, lit = self.peek()
            if kind not in (IDENT, "!"):
                raise SelectorError(f"found '{lit}', expected: identifier after ','")

    def requirement(self) -> Requirement:
        op: Operator | None = None
        kind, lit = self.take()
        if kind == "!":
            op = "!"
            kind, lit = self.take()
        if kind != IDENT:
            raise SelectorError(f"found '{lit}', expected: identifier")
        key = lit
        errs = label_key_errors(key)
        if errs:
            raise SelectorError(f"key {key!r}: {'; '.join(errs)}")
        if self.peek()[0] in (END, ","):
            return _requirement(key, op or "exists", [])
        if op == "!":
            return _requirement(key, "!", [])  # what follows is an error at the caller
        kind, lit = self.take(values_ctx=False)
        if kind not in ("in", "notin", "=", "==", "!=", ">", "<"):
            raise SelectorError(f"found '{lit}', expected: in, notin, =, ==, !=, >, <")
        op = kind  # type: ignore[assignment]
        values = self.value_set() if op in ("in", "notin") else self.exact_value()
        return _requirement(key, op, values)  # type: ignore[arg-type]

    def value_set(self) -> list[str]:
        kind, lit = self.take()
        if kind != "(":
            raise SelectorError(f"found '{lit}' expected: '('")
        kind, lit = self.peek()
        if kind == ")":
            self.take()
            return [""]
        if kind not in (IDENT, ","):
            raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")
        values: list[str] = []
        while True:
            kind, lit = self.take()
            if kind == IDENT:
                values.append(lit)
                nxt, nlit = self.peek()
                if nxt == ",":
                    continue
                if nxt == ")":
                    self.take()
                    return values
                raise SelectorError(f"found '{nlit}', expected: ',' or ')'")
            if kind == ",":  # empty values: "(,a)", "(a,,b)", "(a,)"
                if not values:
                    values.append("")
                nxt, _ = self.peek()
                if nxt == ")":
                    self.take()
                    return values + [""]
                if nxt == ",":
                    values.append("")
                continue
            raise SelectorError(f"found '{lit}', expected: ',', or identifier")

    def exact_value(self) -> list[str]:
        kind, _ = self.peek()
        if kind in (END, ","):
            return [""]
        kind, lit = self.take()
        if kind != IDENT:
            raise SelectorError(f"found '{lit}', expected: identifier")
        return [lit]


class _ByteBudgetCache:
    """Parsed selectors, least recently used dropped first, within a byte budget.

    Bounded by size, not count: 600 distinct 60 KB selectors must not grow the process by
    hundreds of MB. An entry is charged `ENTRY_COST_FACTOR` times its text (the parsed
    requirements hold a copy of every key and value) plus a fixed overhead; a selector
    costing more than a tenth of the budget is parsed every time, not cached."""

    ENTRY_COST_FACTOR = 4
    ENTRY_OVERHEAD = 512

    def __init__(self, budget_bytes: int) -> None:
        self.budget = budget_bytes
        self.used = 0
        self.entries: OrderedDict[str, tuple[Selector, int]] = OrderedDict()

    def get(self, text: str) -> Selector | None:
        hit = self.entries.get(text)
        if hit is None:
            return None
        self.entries.move_to_end(text)
        return hit[0]

    def put(self, text: str, selector: Selector) -> None:
        cost = self.ENTRY_OVERHEAD + self.ENTRY_COST_FACTOR * len(text)
        if cost > self.budget // 10 or text in self.entries:
            return
        self.entries[text] = (selector, cost)
        self.used += cost
        while self.used > self.budget:
            _, (_, dropped) = self.entries.popitem(last=False)
            self.used -= dropped


SELECTOR_CACHE = _ByteBudgetCache(1 << 20)


def parse(text: str) -> Selector:
    """Parse a label selector string; '' selects everything. Raises SelectorError.

    Cached within a byte budget (`SELECTOR_CACHE`): the HPA asks the same few selectors
    every sync, and Selector is immutable."""
    cached = SELECTOR_CACHE.get(text)
    if cached is not None:
        return cached
    selector = _parse(text)
    SELECTOR_CACHE.put(text, selector)
    return selector


def _parse(text: str) -> Selector:
    for kind, lit in _lex(text):
        if kind == ERROR:
            raise SelectorError(f"unable to parse requirement: {lit}")
    try:
        reqs = _Parser(text).parse()
    except SelectorError as exc:
        raise SelectorError(f"unable to parse requirement: {exc}") from None
    return Selector(tuple(sorted(reqs, key=lambda r: r.key)))


def equals(pairs: Iterable[tuple[str, str]]) -> Selector:
    """`k1=v1,k2=v2` without parsing, for selectors built from validated config names (the
    status board asks one per class every sync: 2000 classes' selectors would cycle through
    the parse cache's budget and miss every time)."""
    reqs = sorted((Requirement(k, "=", (v,)) for k, v in pairs), key=lambda r: r.key)
    return Selector(tuple(reqs))


def to_label_selector(selector: Selector) -> dict:
    """The metav1.LabelSelector JSON for a selector (as metav1.ParseToLabelSelector builds it).

    `!=` becomes a one-value NotIn (same meaning). `>`/`<` have no LabelSelector form, so a
    selector using them raises SelectorError.
    """
    match_labels: dict[str, str] = {}
    exprs: list[dict] = []
    ops = {"in": "In", "notin": "NotIn", "!=": "NotIn", "exists": "Exists", "!": "DoesNotExist"}
    for r in selector.requirements:
        if r.operator in ("=", "=="):
            match_labels[r.key] = r.values[0]
        elif r.operator in ops:
            expr: dict = {"key": r.key, "operator": ops[r.operator]}
            if r.values:
                expr["values"] = list(r.values)
            exprs.append(expr)
        else:
            raise SelectorError(f"{r.operator!r} isn't supported in a metric label selector")
    out: dict = {}
    if match_labels:
        out["matchLabels"] = match_labels
    if exprs:
        out["matchExpressions"] = exprs
    return out


_PROM_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")


def prometheus_label(key: str) -> str:
    """A Kubernetes label key as Prometheus' `labelmap` relabelling writes it
    (`app.kubernetes.io/name` -> `app_kubernetes_io_name`)."""
    return _PROM_LABEL_CHARS.sub("_", key)


def _regex_escape(value: str) -> str:
    # label values are limited to [A-Za-z0-9_.-]: only '.' needs escaping in RE2
    return value.replace(".", "\\\\.")


def to_promql_matchers(selector: Selector) -> str:
    """PromQL label matchers with the selector's meaning, comma-separated, no braces.

    Values are limited to [A-Za-z0-9_.-] by validation, so nothing can escape the quotes.
    """
    out = []
    for r in selector.requirements:
        k = prometheus_label(r.key)
        op, vals = r.operator, r.values
        if op in ("=", "=="):
            out.append(f'{k}="{vals[0]}"')
        elif op == "!=":
            out.append(f'{k}!="{vals[0]}"')
        elif op in ("in", "notin"):
            alts = "|".join(_regex_escape(v) for v in vals)
            out.append(f'{k}{"=~" if op == "in" else "!~"}"{alts}"')
        elif op == "exists":
            out.append(f'{k}!=""')
        elif op == "!":
            out.append(f'{k}=""')
        else:
            raise SelectorError(f"{op!r} cannot be expressed as a PromQL label matcher")
    return ",".join(out)
