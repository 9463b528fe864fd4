; Atlas query for Bash and other POSIX shells: definitions and sourced files.
; Captures: @definition.<kind> on a whole definition, @name on its name, @import on a command
; (symbols.py keeps `source x` and `. x`).

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

; Commands with an argument; symbols.py keeps `source` and `.` and reads their first argument.
(command
  name: (command_name)
  argument: (_)) @import
