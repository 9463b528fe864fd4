; Atlas query for Erlang: definitions.
; Captures: @definition.<kind> on a whole definition, @name on its name. A function's clauses are one node.

(module_attribute
  name: (atom) @name) @definition.module

(fun_decl
  clause: (function_clause
    name: (atom) @name)) @definition.function

(record_decl
  name: (atom) @name) @definition.struct

(type_alias
  name: (type_name
    name: (atom) @name)) @definition.type

(pp_define
  lhs: (macro_lhs
    name: (_) @name)) @definition.macro

; `-include("x.hrl").`, `-include_lib("app/include/x.hrl").`
(pp_include
  file: (string) @import)

(pp_include_lib
  file: (string) @import)
