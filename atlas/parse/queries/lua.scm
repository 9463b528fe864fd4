; Atlas query for Lua: definitions and requires.
; Captures: @definition.<kind> on a whole definition, @name on its name, @import on a call with one string
; argument (symbols.py keeps `require("a.b")` and `require "a.b"`).

(function_declaration
  name: (identifier) @name) @definition.function

; `function M.find_files(opts)` and `function M:method()`: named by the field, a module's function.
(function_declaration
  name: (dot_index_expression
    field: (identifier) @name)) @definition.function

(function_declaration
  name: (method_index_expression
    method: (identifier) @name)) @definition.method

; `M.grep = function(opts) ... end` and `local grep = function() ... end`
(assignment_statement
  (variable_list
    name: (dot_index_expression
      field: (identifier) @name))
  (expression_list
    value: (function_definition))) @definition.function

(assignment_statement
  (variable_list
    name: (identifier) @name)
  (expression_list
    value: (function_definition))) @definition.function

(function_call
  name: (identifier)
  arguments: (arguments . (string) .)) @import
