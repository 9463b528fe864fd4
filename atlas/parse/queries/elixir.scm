; Atlas query for Elixir: definitions and the modules a file aliases, imports, uses or requires.
; Definitions are calls: `defmodule Ecto.Changeset do`, `def cast(data, params)`. Queries use no text
; predicates (see symbols.py), so @keyword captures the call's name and symbols.py keeps the match only when
; it is one of the language's defining calls (defmodule, def, defp, defmacro, ...). @import is a call whose first
; argument names modules; symbols.py keeps `alias`, `import`, `use` and `require` (`alias Ecto.{Query, Changeset}`
; names two).

(call
  target: (identifier) @keyword
  (arguments . (alias) @name)) @definition.module

(call
  target: (identifier) @keyword
  (arguments . [
    (call target: (identifier) @name)
    (identifier) @name
    (binary_operator left: (call target: (identifier) @name))
    (binary_operator left: (identifier) @name)
  ])) @definition.function

(call
  target: (identifier)
  (arguments . [(alias) (dot left: (alias) right: (tuple))])) @import
