"""STIX 2.1 patterns: a hand-written tokenizer and recursive-descent parser that accepts
exactly the patterns stix2-patterns (2.1 grammar) accepts, with the semantic checks that
stix2-validator applies to an indicator's pattern.

Why our own: stix2-patterns is an ANTLR parser (about 200 µs per pattern, and
stix2-validator parses every pattern twice). This one does the same job in
about 20 µs for a one-comparison pattern (bench/validate_speed.py times the whole check).

What "exactly" means here, rule by rule (tests/unit/test_stix_differential.py checks
it against stix2-patterns on its own test corpus and on generated patterns):

- Tokens are matched longest-first, ties to the rule listed first in the 2.1 grammar
  (so ``true`` is a boolean, ``AND`` a keyword, ``AND-x`` an identifier). Keywords are
  case-sensitive. Whitespace is the grammar's list of characters; ``/* */`` and ``//``
  comments are skipped. A token the grammar defines but no parser rule uses (a lone
  quote, ``+``, ``-``, ``^``, ``/``, ``LAST``, any other character) is a syntax error.
- The grammar: ``FOLLOWEDBY`` binds loosest, then ``OR``, then ``AND``; qualifiers
  (``WITHIN n SECONDS``, ``REPEATS n TIMES``, ``START t STOP t``) follow an observation.
- stix2-patterns' extra rules: the first character that is not ``(`` or whitespace must
  be ``[``; one observation ``[...]`` takes each kind of qualifier at most once (a
  parenthesised group is not checked); a ``hashes`` comparison on a known algorithm must
  match its hex form (with stix2-patterns' MD6 expression as written, see ``_HASH_FORMS``).
- Where stix2-patterns fails with an exception instead of an error list (a negative list
  index ``[-1]`` anywhere; a hash comparison whose last path step is a list index) the
  pattern is invalid: the exchange refused those before (the validator's exception
  became the refusal).
- stix2-validator's checks on what the pattern names: each object type is a known
  cyber-observable type or a well-formed custom type name; each first property is a
  known property of that type or a well-formed property name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# The parser's token kinds (names as in the grammar).
INT_NEG = "IntNegLiteral"
INT_POS = "IntPosLiteral"
FLOAT_NEG = "FloatNegLiteral"
FLOAT_POS = "FloatPosLiteral"
HEX = "HexLiteral"
BINARY = "BinaryLiteral"
STRING = "StringLiteral"
BOOL = "BoolLiteral"
TIMESTAMP = "TimestampLiteral"
ID_PLAIN = "IdentifierWithoutHyphen"
ID_HYPHEN = "IdentifierWithHyphen"
EQ = "EQ"
NEQ = "NEQ"
ORDER = "ORDER"  # < <= > >=
COLON = ":"
DOT = "."
COMMA = ","
LPAREN = "("
RPAREN = ")"
LBRACK = "["
RBRACK = "]"
ASTERISK = "*"
END = "EOF"

KEYWORDS = frozenset(
    {
        "AND",
        "OR",
        "NOT",
        "FOLLOWEDBY",
        "LIKE",
        "MATCHES",
        "ISSUPERSET",
        "ISSUBSET",
        "EXISTS",
        "IN",
        "START",
        "STOP",
        "SECONDS",
        "WITHIN",
        "REPEATS",
        "TIMES",
    }
)
# Keywords the lexer knows but no parser rule takes (a pattern holding one is invalid).
_UNUSED_KEYWORDS = frozenset({"LAST"})

_WHITESPACE = frozenset(
    " \t\r\n\u000b\u000c\u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_IDENT_HEAD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_IDENT_PLAIN = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_IDENT_HYPHEN = re.compile(r"[a-zA-Z_][a-zA-Z0-9_-]*")
_INT = re.compile(r"[+-]?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[+-]?[0-9]*\.[0-9]+")
_HEX = re.compile(r"h'(?:[A-Fa-f0-9]{2})*'")
_BINARY = re.compile(
    r"b'(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2}==)'"
)
_TIMESTAMP = re.compile(
    r"t'[0-9]{4}-(?:0[1-9]|1[012])-(?:0[1-9]|[12][0-9]|3[01])"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:(?:[0-5][0-9]|60)(?:\.[0-9]+)?Z'"
)
_LITERAL_AFTER_LETTER = {"h": _HEX, "b": _BINARY, "t": _TIMESTAMP}

# Deeper or longer patterns go to stix2-patterns itself (``TooComplex``): its recursive
# parser and tree walk fail with RecursionError somewhere past these, at a depth this
# module cannot predict exactly; no real indicator comes near them.
MAX_DEPTH = 24
MAX_TOKENS = 600


class TooComplex(Exception):
    """The pattern is beyond what this module decides by itself (see MAX_DEPTH)."""


class _Invalid(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str
    at: int


STAR = object()  # a ``[*]`` step in an object path


@dataclass
class Comparison:
    """One property test: the object type, its path (names, list indices, STAR) and the
    literal as written (a set literal without its whitespace, as stix2-patterns has it)."""

    object_type: str
    path: list[object]
    value: str


@dataclass
class Parsed:
    comparisons: list[Comparison] = field(default_factory=list)


def tokenize(text: str) -> list[Token]:
    out: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        if len(out) > MAX_TOKENS:  # stop early: a megabyte pattern is not read to its end
            raise TooComplex(f"more than {MAX_TOKENS} tokens")
        c = text[i]
        if c in _WHITESPACE:
            i += 1
            continue
        if c == "/":
            nxt = text[i + 1 : i + 2]
            if nxt == "*":
                close = text.find("*/", i + 2)
                if close < 0:
                    raise _Invalid(f"unterminated comment at {i}")
                i = close + 2
                continue
            if nxt == "/":
                j = i + 2
                while j < n and text[j] not in "\r\n":
                    j += 1
                i = j
                continue
            raise _Invalid(f"unexpected '/' at {i}")
        if c in _IDENT_HEAD:
            literal = _LITERAL_AFTER_LETTER.get(c)
            if literal is not None and text[i + 1 : i + 2] == "'":
                m = literal.match(text, i)
                if m is not None:
                    kind = {"h": HEX, "b": BINARY, "t": TIMESTAMP}[c]
                    out.append(Token(kind, m.group(), i))
                    i = m.end()
                    continue
            plain = _IDENT_PLAIN.match(text, i)
            hyphen = _IDENT_HYPHEN.match(text, i)
            assert plain is not None and hyphen is not None
            if hyphen.end() > plain.end():
                out.append(Token(ID_HYPHEN, hyphen.group(), i))
                i = hyphen.end()
                continue
            word = plain.group()
            if word in ("true", "false"):
                out.append(Token(BOOL, word, i))
            elif word in KEYWORDS:
                out.append(Token(word, word, i))
            elif word in _UNUSED_KEYWORDS:
                raise _Invalid(f"{word} at {i} is not allowed here")
            else:
                out.append(Token(ID_PLAIN, word, i))
            i = plain.end()
            continue
        if c in "0123456789+-.":
            whole = _INT.match(text, i)
            frac = _FLOAT.match(text, i)
            if frac is not None and (whole is None or frac.end() > whole.end()):
                out.append(Token(FLOAT_NEG if c == "-" else FLOAT_POS, frac.group(), i))
                i = frac.end()
                continue
            if whole is not None:
                out.append(Token(INT_NEG if c == "-" else INT_POS, whole.group(), i))
                i = whole.end()
                continue
            if c == ".":
                out.append(Token(DOT, c, i))
                i += 1
                continue
            raise _Invalid(f"unexpected {c!r} at {i}")
        if c == "'":
            j = i + 1
            while j < n:
                ch = text[j]
                if ch == "'":
                    break
                if ch == "\\":
                    if text[j + 1 : j + 2] in ("'", "\\"):
                        j += 2
                        continue
                    raise _Invalid(f"bad escape in the string at {i}")
                j += 1
            else:
                raise _Invalid(f"unterminated string at {i}")
            out.append(Token(STRING, text[i : j + 1], i))
            i = j + 1
            continue
        two = text[i : i + 2]
        if two in ("==", "!=", "<>", "<=", ">="):
            out.append(Token(EQ if two == "==" else ORDER if two in ("<=", ">=") else NEQ, two, i))
            i += 2
            continue
        if c == "=":
            out.append(Token(EQ, c, i))
        elif c in "<>":
            out.append(Token(ORDER, c, i))
        elif c in ":,()[]*":
            out.append(Token(c, c, i))
        else:
            raise _Invalid(f"unexpected {c!r} at {i}")
        i += 1
    if len(out) > MAX_TOKENS:
        raise TooComplex(f"more than {MAX_TOKENS} tokens")
    out.append(Token(END, "", n))
    return out


_ORDERABLE = frozenset({INT_POS, INT_NEG, FLOAT_POS, FLOAT_NEG, STRING, BINARY, HEX, TIMESTAMP})
_PRIMITIVE = _ORDERABLE | {BOOL}
_STRING_OPS = frozenset({"LIKE", "MATCHES", "ISSUBSET", "ISSUPERSET"})


def _unquote(text: str) -> str:
    # as stix2-patterns' inspector: strip the quotes, then unescape \' and then \\
    return text[1:-1].replace("\\'", "'").replace("\\\\", "\\")


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.depth = 0
        self.parsed = Parsed()

    @property
    def kind(self) -> str:
        return self.tokens[self.pos].kind

    def take(self, *kinds: str) -> Token:
        token = self.tokens[self.pos]
        if token.kind not in kinds:
            raise _Invalid(
                f"expected {' or '.join(kinds)} at {token.at}, found {token.text or 'the end'!r}"
            )
        self.pos += 1
        return token

    def nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise TooComplex(f"nested deeper than {MAX_DEPTH}")

    def pattern(self) -> Parsed:
        self.observations()
        self.take(END)
        return self.parsed

    def observations(self) -> None:
        self.observation_or()
        while self.kind == "FOLLOWEDBY":
            self.pos += 1
            self.observation_or()

    def observation_or(self) -> None:
        self.observation_and()
        while self.kind == "OR":
            self.pos += 1
            self.observation_and()

    def observation_and(self) -> None:
        self.observation()
        while self.kind == "AND":
            self.pos += 1
            self.observation()

    def observation(self) -> None:
        simple = self.kind == LBRACK
        if simple:
            self.pos += 1
            self.comparison_or()
            self.take(RBRACK)
        else:
            self.take(LBRACK, LPAREN)
            self.nest()
            self.observations()
            self.take(RPAREN)
            self.depth -= 1
        seen: set[str] = set()
        while self.kind in ("WITHIN", "REPEATS", "START"):
            qualifier = self.kind
            self.pos += 1
            if qualifier == "WITHIN":
                self.take(INT_POS, FLOAT_POS)
                self.take("SECONDS")
            elif qualifier == "REPEATS":
                self.take(INT_POS)
                self.take("TIMES")
            else:
                self.take(TIMESTAMP)
                self.take("STOP")
                self.take(TIMESTAMP)
            # stix2-patterns checks repeated qualifiers on [..] only, not on ( .. )
            if simple and qualifier in seen:
                raise _Invalid(f"duplicate qualifier type: {qualifier}")
            seen.add(qualifier)

    def comparison_or(self) -> None:
        self.comparison_and()
        while self.kind == "OR":
            self.pos += 1
            self.comparison_and()

    def comparison_and(self) -> None:
        self.prop_test()
        while self.kind == "AND":
            self.pos += 1
            self.prop_test()

    def prop_test(self) -> None:
        if self.kind == LPAREN:
            self.pos += 1
            self.nest()
            self.comparison_or()
            self.take(RPAREN)
            self.depth -= 1
            return
        if self.kind == "EXISTS":
            self.pos += 1
            self.object_path()
            return
        object_type, path = self.object_path()
        if self.kind == "NOT":
            self.pos += 1
        kind = self.kind
        if kind in (EQ, NEQ):
            self.pos += 1
            value = self.take(*_PRIMITIVE).text
        elif kind == ORDER:
            self.pos += 1
            value = self.take(*_ORDERABLE).text
        elif kind == "IN":
            self.pos += 1
            value = self.set_literal()
        elif kind in _STRING_OPS:
            self.pos += 1
            value = self.take(STRING).text
        else:
            token = self.tokens[self.pos]
            raise _Invalid(
                f"expected a comparison at {token.at}, found {token.text or 'the end'!r}"
            )
        self.parsed.comparisons.append(Comparison(object_type, path, value))

    def object_path(self) -> tuple[str, list[object]]:
        object_type = self.take(ID_PLAIN, ID_HYPHEN).text
        self.take(COLON)
        first = self.take(ID_PLAIN, STRING)
        path: list[object] = [_unquote(first.text) if first.kind == STRING else first.text]
        while True:
            if self.kind == DOT:
                self.pos += 1
                step = self.take(ID_PLAIN, STRING)
                path.append(_unquote(step.text) if step.kind == STRING else step.text)
            elif self.kind == LBRACK:
                self.pos += 1
                index = self.take(INT_POS, INT_NEG, ASTERISK)
                self.take(RBRACK)
                if index.kind == INT_NEG:
                    # stix2-patterns' inspector fails (an exception) on a negative index
                    raise _Invalid(f"negative list index {index.text} at {index.at}")
                path.append(STAR if index.kind == ASTERISK else int(index.text))
            else:
                return object_type, path

    def set_literal(self) -> str:
        self.take(LPAREN)
        parts = ["("]
        if self.kind != RPAREN:
            parts.append(self.take(*_PRIMITIVE).text)
            while self.kind == COMMA:
                self.pos += 1
                parts += [",", self.take(*_PRIMITIVE).text]
        self.take(RPAREN)
        parts.append(")")
        return "".join(parts)


# stix2-patterns' hash forms, keyed by the algorithm name upper-cased without '-' or quotes.
# Its MD6 expression lacks a group around its alternatives, and a line break continues it
# inside a raw string; as written it accepts a value that starts with 32 hex digits (or with
# a newline, four spaces and 64 hex digits), which is what is reproduced here.
_HEX_FORM = "^[a-fA-F0-9]{%d}$"
_HASH_FORMS = {
    "MD5": re.compile(_HEX_FORM % 32),
    "MD6": re.compile(r"[a-fA-F0-9]{32}|\n    [a-fA-F0-9]{64}"),
    "RIPEMD160": re.compile(_HEX_FORM % 40),
    "SHA1": re.compile(_HEX_FORM % 40),
    "SHA224": re.compile(_HEX_FORM % 56),
    "SHA256": re.compile(_HEX_FORM % 64),
    "SHA384": re.compile(_HEX_FORM % 96),
    "SHA512": re.compile(_HEX_FORM % 128),
    "SHA3224": re.compile(_HEX_FORM % 56),
    "SHA3256": re.compile(_HEX_FORM % 64),
    "SHA3384": re.compile(_HEX_FORM % 96),
    "SHA3512": re.compile(_HEX_FORM % 128),
    "SSDEEP": re.compile("^[a-zA-Z0-9/+:.]{1,128}$"),
    "WHIRLPOOL": re.compile(_HEX_FORM % 128),
}


def _hash_problem(comparison: Comparison) -> str | None:
    path = comparison.path
    if "hashes" not in path:
        return None
    selector = path[-1]
    if selector is STAR:
        return None
    if not isinstance(selector, str):
        # stix2-patterns fails (an exception) on a hash whose last step is a list index
        return f"hashes[{selector}] is not a hash algorithm"
    algorithm = selector.upper().replace("-", "").replace("'", "")
    form = _HASH_FORMS.get(algorithm)
    value = comparison.value.replace("'", "")
    if form is not None and form.match(value) is None:
        return f"'{value}' is not a valid {selector} hash"
    return None


def parse(text: str) -> Parsed:
    """The pattern's comparisons; raises ValueError (a one-line reason) when stix2-patterns
    would reject it, TooComplex when it is too deep or long to decide here."""
    try:
        first = next((c for c in text if c != "(" and not c.isspace()), "")
        if first != "[":
            raise _Invalid("the pattern does not start with '[' (after any '(')")
        parsed = _Parser(tokenize(text)).pattern()
        for comparison in parsed.comparisons:
            problem = _hash_problem(comparison)
            if problem is not None:
                raise _Invalid(problem)
        return parsed
    except _Invalid as exc:
        raise ValueError(str(exc)) from None
