; Atlas query for Fortran: definitions and imports.
; Captures: @definition.<kind> on a whole definition, @name on its name, @import on a `use`d module's name.

(module
  (module_statement
    (name) @name)) @definition.module

(submodule
  (submodule_statement
    (name) @name)) @definition.module

(program
  (program_statement
    (name) @name)) @definition.module

(subroutine
  (subroutine_statement
    name: (name) @name)) @definition.function

(function
  (function_statement
    name: (name) @name)) @definition.function

(module_procedure
  (module_procedure_statement
    name: (name) @name)) @definition.function

(derived_type_definition
  (derived_type_statement
    (type_name) @name)) @definition.type

(interface
  (interface_statement
    (name) @name)) @definition.interface

(use_statement
  (module_name) @import)
