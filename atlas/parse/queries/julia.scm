; Atlas query for Julia: definitions.
; Captures: @definition.<kind> on a whole definition, @name on its name. `function Base.show(...)` and
; `Base.show(io, x) = ...` define a method of another module's function: named by the last part.

(module_definition
  name: (identifier) @name) @definition.module

(struct_definition
  (type_head [(identifier) @name (binary_expression . (identifier) @name)])) @definition.struct

(abstract_definition
  (type_head [(identifier) @name (binary_expression . (identifier) @name)])) @definition.type

(function_definition
  (signature
    [(call_expression . [(identifier) @name (field_expression (identifier) @name .)])
     (typed_expression . (call_expression . [(identifier) @name (field_expression (identifier) @name .)]))
     (where_expression . (call_expression . [(identifier) @name (field_expression (identifier) @name .)]))
     (where_expression . (typed_expression . (call_expression . [(identifier) @name (field_expression (identifier) @name .)])))])) @definition.function

(macro_definition
  (signature
    (call_expression . (identifier) @name))) @definition.macro

(assignment
  . [(call_expression . [(identifier) @name (field_expression (identifier) @name .)])
     (where_expression . (call_expression . [(identifier) @name (field_expression (identifier) @name .)]))]
  (operator)) @definition.function

(const_statement
  (assignment . (identifier) @name)) @definition.constant

; Calls with a string argument; symbols.py keeps `include("x.jl")`.
(call_expression
  (identifier)
  (argument_list . (string_literal))) @import
