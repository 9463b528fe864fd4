; Atlas query for Bash and other POSIX shells: definitions and sourced files.
; Captures: @definition.<kind> on a whole definition, @name on its name, @import on the first argument
; of `source` or `.`.

(function_definition
  name: (word) @name) @definition.function

; Top-level assignments (UPPER_CASE names become constants in symbols.py).
(program
  (variable_assignment
    name: (variable_name) @name) @definition.variable)

(program
  (declaration_command
    (variable_assignment
      name: (variable_name) @name)) @definition.variable)

(command
  name: (command_name) @_command
  .
  argument: [(word) (string) (raw_string) (concatenation)] @import
  (#any-of? @_command "source" "."))
