"""Statement builders: the second walk of the expander, from recorded statements to the IR.

One module per family of statements, each a few functions taking the
`Walker` (`pipenet.lang.walk`, through which every token is read: text,
typed value, span, diagnostics) and a statement with the scope it was
declared in:

- `topology`: the whole IR, in order (the topology's name, then each family);
- `bridges`: `bridge NAME { ... }`;
- `containers`: `container NAME { ... }` with `defaults container` applied;
- `interfaces`: `interface NAME ...`, whose kind reads its own words (`pipenet.kinds`);
- `common`: statements several blocks share (`route`, `sysctl`, `shape`);
- `p2p`, `host`, `expectations`: `p2p A -- B`, `host { ... }`, `expect ...`.

A builder types values and reports what is wrong with the words of one
statement (a bad address, an option given twice, an unknown keyword); what
is wrong between statements, or with the network they describe, is the
validation passes' (`pipenet.validate`).
"""
