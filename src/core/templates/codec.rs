//! A compact binary form of tera's parsed templates, so the embedded set is
//! parsed once when shipready is built rather than on every run.
//!
//! Why: tera's pest grammar spends a few rule calls per byte of plain text,
//! about 15 ms of CPU for the largest preset, which was most of what `init`,
//! `diff` and `update` cost. `build.rs` parses every file under `templates/`
//! with tera itself and stores the result with [`encode_set`]; at run time
//! [`decode`] rebuilds the same `tera::Template` values, in well under a
//! millisecond. Templates overlaid with `--templates DIR` are still parsed at
//! run time.
//!
//! The AST is tera's (`tera::ast`, exported for tools like this one but not
//! covered by semver), so tera is pinned with `=` in Cargo.toml, every struct
//! is destructured without `..` and every enum is matched exhaustively: a
//! tera release that changes the AST fails to compile here instead of
//! decoding wrongly. A unit test in `templates/mod.rs` checks that decoding gives
//! exactly what parsing the source gives, for every embedded template.
//!
//! Format: little-endian, lengths as u32, enums as a one-byte tag, maps with
//! their keys sorted so the build output is reproducible.
//!
//! This file is also compiled into `build.rs` (`#[path]`), which is why it
//! uses nothing from the rest of the crate.

use std::collections::HashMap;
use std::hash::Hash;

use tera::ast::{
    Block, Expr, ExprVal, FilterSection, Forloop, FunctionCall, If, In, LogicExpr, LogicOperator,
    MacroCall, MacroDefinition, MathExpr, MathOperator, Node, Set, StringConcat, Test, WS,
};
use tera::Template;

/// The encoding of one parsed template.
pub fn encode(template: &Template) -> Vec<u8> {
    let mut out = Vec::new();
    template.put(&mut out);
    out
}

/// The template `bytes` encodes. `bytes` comes from this build's own
/// `build.rs`, so malformed input is a bug, reported by a panic.
pub fn decode(bytes: &[u8]) -> Template {
    let mut r = Reader { bytes, pos: 0 };
    let t = Template::take(&mut r);
    assert_eq!(
        r.pos,
        bytes.len(),
        "trailing bytes after a precompiled template"
    );
    t
}

/// A set of named encoded templates, in the order given.
pub fn encode_set<'a>(templates: impl IntoIterator<Item = (&'a str, &'a Template)>) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, template) in templates {
        name.to_string().put(&mut out);
        encode(template).put(&mut out);
    }
    out
}

/// The (name, encoded template) pairs of a set made by [`encode_set`],
/// borrowed from `bytes` (nothing is decoded yet).
pub fn index_set(bytes: &[u8]) -> Vec<(&str, &[u8])> {
    let mut r = Reader { bytes, pos: 0 };
    let mut out = Vec::new();
    while r.pos < bytes.len() {
        let name = std::str::from_utf8(r.slice()).expect("a template name is UTF-8");
        let body = r.slice();
        out.push((name, body));
    }
    out
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        s
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        self.bytes(N).try_into().expect("N bytes")
    }

    fn tag(&mut self) -> u8 {
        self.array::<1>()[0]
    }

    fn len(&mut self) -> usize {
        u32::from_le_bytes(self.array()) as usize
    }

    fn slice(&mut self) -> &'a [u8] {
        let n = self.len();
        self.bytes(n)
    }
}

fn put_len(n: usize, out: &mut Vec<u8>) {
    let n = u32::try_from(n).expect("a template is smaller than 4 GiB");
    out.extend_from_slice(&n.to_le_bytes());
}

fn bad_tag(ty: &str, tag: u8) -> ! {
    panic!("precompiled templates: unknown {ty} tag {tag}")
}

trait Codec: Sized {
    fn put(&self, out: &mut Vec<u8>);
    fn take(r: &mut Reader<'_>) -> Self;
}

impl Codec for bool {
    fn put(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
    fn take(r: &mut Reader<'_>) -> Self {
        r.tag() != 0
    }
}

impl Codec for i64 {
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn take(r: &mut Reader<'_>) -> Self {
        i64::from_le_bytes(r.array())
    }
}

impl Codec for f64 {
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_bits().to_le_bytes());
    }
    fn take(r: &mut Reader<'_>) -> Self {
        f64::from_bits(u64::from_le_bytes(r.array()))
    }
}

impl Codec for String {
    fn put(&self, out: &mut Vec<u8>) {
        put_len(self.len(), out);
        out.extend_from_slice(self.as_bytes());
    }
    fn take(r: &mut Reader<'_>) -> Self {
        String::from_utf8(r.slice().to_vec()).expect("precompiled text is UTF-8")
    }
}

impl Codec for Vec<u8> {
    fn put(&self, out: &mut Vec<u8>) {
        put_len(self.len(), out);
        out.extend_from_slice(self);
    }
    fn take(r: &mut Reader<'_>) -> Self {
        r.slice().to_vec()
    }
}

/// Lists of AST values (`Vec<u8>` above is a byte string instead).
macro_rules! list {
    ($($ty:ty),* $(,)?) => {$(
        impl Codec for Vec<$ty> {
            fn put(&self, out: &mut Vec<u8>) {
                put_len(self.len(), out);
                for item in self {
                    item.put(out);
                }
            }
            fn take(r: &mut Reader<'_>) -> Self {
                let n = r.len();
                (0..n).map(|_| <$ty>::take(r)).collect()
            }
        }
    )*};
}
list!(
    Node,
    Expr,
    ExprVal,
    FunctionCall,
    String,
    (String, String),
    (String, Block),
    (WS, Expr, Vec<Node>),
);

impl<T: Codec> Codec for Option<T> {
    fn put(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(v) => {
                out.push(1);
                v.put(out);
            }
        }
    }
    fn take(r: &mut Reader<'_>) -> Self {
        match r.tag() {
            0 => None,
            1 => Some(T::take(r)),
            t => bad_tag("Option", t),
        }
    }
}

impl<T: Codec> Codec for Box<T> {
    fn put(&self, out: &mut Vec<u8>) {
        (**self).put(out);
    }
    fn take(r: &mut Reader<'_>) -> Self {
        Box::new(T::take(r))
    }
}

impl<K: Codec + Ord + Eq + Hash, V: Codec> Codec for HashMap<K, V> {
    fn put(&self, out: &mut Vec<u8>) {
        let mut entries: Vec<_> = self.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        put_len(entries.len(), out);
        for (k, v) in entries {
            k.put(out);
            v.put(out);
        }
    }
    fn take(r: &mut Reader<'_>) -> Self {
        let n = r.len();
        (0..n).map(|_| (K::take(r), V::take(r))).collect()
    }
}

impl<A: Codec, B: Codec> Codec for (A, B) {
    fn put(&self, out: &mut Vec<u8>) {
        self.0.put(out);
        self.1.put(out);
    }
    fn take(r: &mut Reader<'_>) -> Self {
        (A::take(r), B::take(r))
    }
}

impl<A: Codec, B: Codec, C: Codec> Codec for (A, B, C) {
    fn put(&self, out: &mut Vec<u8>) {
        self.0.put(out);
        self.1.put(out);
        self.2.put(out);
    }
    fn take(r: &mut Reader<'_>) -> Self {
        (A::take(r), B::take(r), C::take(r))
    }
}

/// A struct, field by field. The pattern has no `..`, so a field tera adds
/// is a compile error here.
macro_rules! record {
    ($ty:ident { $($field:ident),* $(,)? }) => {
        impl Codec for $ty {
            fn put(&self, out: &mut Vec<u8>) {
                let $ty { $($field),* } = self;
                $($field.put(out);)*
            }
            fn take(r: &mut Reader<'_>) -> Self {
                $ty { $($field: Codec::take(r)),* }
            }
        }
    };
}

record!(WS { left, right });
record!(FunctionCall { name, args });
record!(MathExpr { lhs, rhs, operator });
record!(LogicExpr { lhs, rhs, operator });
record!(StringConcat { values });
record!(In { lhs, rhs, negated });
record!(Expr {
    val,
    negated,
    filters
});
record!(Test {
    ident,
    negated,
    name,
    args
});
record!(FilterSection { filter, body });
record!(Set { key, value, global });
record!(MacroCall {
    namespace,
    name,
    args
});
record!(MacroDefinition { name, args, body });
record!(Block { name, body });
record!(Forloop {
    key,
    value,
    container,
    body,
    empty_body
});
record!(If {
    conditions,
    otherwise
});
record!(Template {
    name,
    path,
    ast,
    from_extend,
    macros,
    imported_macro_files,
    parent,
    blocks,
    parents,
    blocks_definitions,
});

/// A field-less enum as a one-byte tag, listed once for both directions.
macro_rules! unit_enum {
    ($ty:ident { $($variant:ident = $tag:literal),* $(,)? }) => {
        impl Codec for $ty {
            fn put(&self, out: &mut Vec<u8>) {
                out.push(match self { $($ty::$variant => $tag),* });
            }
            fn take(r: &mut Reader<'_>) -> Self {
                match r.tag() {
                    $($tag => $ty::$variant,)*
                    t => bad_tag(stringify!($ty), t),
                }
            }
        }
    };
}

unit_enum!(MathOperator { Add = 0, Sub = 1, Mul = 2, Div = 3, Modulo = 4 });
unit_enum!(LogicOperator { Gt = 0, Gte = 1, Lt = 2, Lte = 3, Eq = 4, NotEq = 5, And = 6, Or = 7 });

/// An enum whose variants carry fields: a tag, then the fields in order.
macro_rules! data_enum {
    ($ty:ident { $($variant:ident ( $($field:ident),* ) = $tag:literal),* $(,)? }) => {
        impl Codec for $ty {
            fn put(&self, out: &mut Vec<u8>) {
                match self {
                    $($ty::$variant($($field),*) => {
                        out.push($tag);
                        $($field.put(out);)*
                    })*
                }
            }
            fn take(r: &mut Reader<'_>) -> Self {
                match r.tag() {
                    $($tag => $ty::$variant($(data_enum!(@take r $field)),*),)*
                    t => bad_tag(stringify!($ty), t),
                }
            }
        }
    };
    (@take $r:ident $field:ident) => { Codec::take($r) };
}

data_enum!(ExprVal {
    String(s) = 0,
    Int(i) = 1,
    Float(f) = 2,
    Bool(b) = 3,
    Ident(s) = 4,
    Math(m) = 5,
    Logic(l) = 6,
    Test(t) = 7,
    MacroCall(m) = 8,
    FunctionCall(f) = 9,
    Array(a) = 10,
    StringConcat(s) = 11,
    In(i) = 12,
});

/// `Node` as `data_enum!` above, written out because `Super` has no fields.
impl Codec for Node {
    fn put(&self, out: &mut Vec<u8>) {
        match self {
            Node::Super => out.push(0),
            Node::Text(s) => {
                out.push(1);
                s.put(out);
            }
            Node::VariableBlock(ws, e) => {
                out.push(2);
                ws.put(out);
                e.put(out);
            }
            Node::MacroDefinition(a, m, b) => {
                out.push(3);
                a.put(out);
                m.put(out);
                b.put(out);
            }
            Node::Extends(ws, s) => {
                out.push(4);
                ws.put(out);
                s.put(out);
            }
            Node::Include(ws, names, ignore_missing) => {
                out.push(5);
                ws.put(out);
                names.put(out);
                ignore_missing.put(out);
            }
            Node::ImportMacro(ws, file, namespace) => {
                out.push(6);
                ws.put(out);
                file.put(out);
                namespace.put(out);
            }
            Node::Set(ws, set) => {
                out.push(7);
                ws.put(out);
                set.put(out);
            }
            Node::Raw(a, text, b) => {
                out.push(8);
                a.put(out);
                text.put(out);
                b.put(out);
            }
            Node::FilterSection(a, f, b) => {
                out.push(9);
                a.put(out);
                f.put(out);
                b.put(out);
            }
            Node::Block(a, block, b) => {
                out.push(10);
                a.put(out);
                block.put(out);
                b.put(out);
            }
            Node::Forloop(a, f, b) => {
                out.push(11);
                a.put(out);
                f.put(out);
                b.put(out);
            }
            Node::If(i, ws) => {
                out.push(12);
                i.put(out);
                ws.put(out);
            }
            Node::Break(ws) => {
                out.push(13);
                ws.put(out);
            }
            Node::Continue(ws) => {
                out.push(14);
                ws.put(out);
            }
            Node::Comment(ws, s) => {
                out.push(15);
                ws.put(out);
                s.put(out);
            }
        }
    }
    fn take(r: &mut Reader<'_>) -> Self {
        match r.tag() {
            0 => Node::Super,
            1 => Node::Text(Codec::take(r)),
            2 => Node::VariableBlock(Codec::take(r), Codec::take(r)),
            3 => Node::MacroDefinition(Codec::take(r), Codec::take(r), Codec::take(r)),
            4 => Node::Extends(Codec::take(r), Codec::take(r)),
            5 => Node::Include(Codec::take(r), Codec::take(r), Codec::take(r)),
            6 => Node::ImportMacro(Codec::take(r), Codec::take(r), Codec::take(r)),
            7 => Node::Set(Codec::take(r), Codec::take(r)),
            8 => Node::Raw(Codec::take(r), Codec::take(r), Codec::take(r)),
            9 => Node::FilterSection(Codec::take(r), Codec::take(r), Codec::take(r)),
            10 => Node::Block(Codec::take(r), Codec::take(r), Codec::take(r)),
            11 => Node::Forloop(Codec::take(r), Codec::take(r), Codec::take(r)),
            12 => Node::If(Codec::take(r), Codec::take(r)),
            13 => Node::Break(Codec::take(r)),
            14 => Node::Continue(Codec::take(r)),
            15 => Node::Comment(Codec::take(r), Codec::take(r)),
            t => bad_tag("Node", t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_indexes_back_to_its_names_and_templates() {
        let a = Template::new("a.tera", None, "{{ x | default(value=1) }}").unwrap();
        let b = Template::new("b/c.tera", None, "{% if y %}text{% endif %}").unwrap();
        let set = encode_set([("a.tera", &a), ("b/c.tera", &b)]);
        let index = index_set(&set);
        assert_eq!(
            index.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            ["a.tera", "b/c.tera"]
        );
        assert_eq!(decode(index[0].1).ast, a.ast);
        assert_eq!(decode(index[1].1).ast, b.ast);
    }
}
