; Atlas query for Clojure: definitions.
; Definitions are lists whose first symbol is a defining form: `(defn analyze [ctx] ...)`. Queries use no text
; predicates (see symbols.py), so @keyword captures the form's name and symbols.py keeps the match only for a
; defining form, whose kind it gives (defn → function, defprotocol → interface, ns → module, ...).

(list_lit
  .
  (sym_lit
    name: (sym_name) @keyword)
  .
  (sym_lit
    name: (sym_name) @name)) @definition.function

; A namespace's `(:require [a.b :as c] d.e)` (or `:use`): symbols.py takes each libspec's namespace.
(list_lit
  .
  (kwd_lit)) @import
