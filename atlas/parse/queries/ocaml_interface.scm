; Atlas query for OCaml interfaces (.mli): the declarations a module exports (implementations use it too,
; before ocaml.scm). Captures: @definition.<kind> on a whole definition, @name on its name.

(module_binding
  (module_name) @name) @definition.module

(module_type_definition
  (module_type_name) @name) @definition.interface

(value_specification
  (value_name) @name) @definition.function

(external
  (value_name) @name) @definition.function

(type_binding
  name: (type_constructor) @name) @definition.type

(exception_definition
  (constructor_declaration
    (constructor_name) @name)) @definition.class
