; Atlas query for Lua: definitions (no imports yet: `require` paths are not resolved).
; Captures: @definition.<kind> on a whole definition, @name on its name.

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
