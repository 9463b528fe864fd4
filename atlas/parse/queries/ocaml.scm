; Atlas query for OCaml, implementations (.ml) and interfaces (.mli, the ocaml_interface grammar): definitions.
; Captures: @definition.<kind> on a whole definition, @name on its name. Only a file's or a module's own `let`s
; are definitions (a `let ... in` inside a function is not); a `let` with parameters or a `fun` is a function.

(module_binding
  (module_name) @name) @definition.module

(module_type_definition
  (module_type_name) @name) @definition.interface

(compilation_unit
  (value_definition
    (let_binding
      pattern: (value_name) @name) @definition.variable))

(structure
  (value_definition
    (let_binding
      pattern: (value_name) @name) @definition.variable))

(compilation_unit
  (value_definition
    (let_binding
      pattern: (value_name) @name
      (parameter)) @definition.function))

(structure
  (value_definition
    (let_binding
      pattern: (value_name) @name
      (parameter)) @definition.function))

(compilation_unit
  (value_definition
    (let_binding
      pattern: (value_name) @name
      body: [(fun_expression) (function_expression)]) @definition.function))

(structure
  (value_definition
    (let_binding
      pattern: (value_name) @name
      body: [(fun_expression) (function_expression)]) @definition.function))

(value_specification
  (value_name) @name) @definition.function

(external
  (value_name) @name) @definition.function

(type_binding
  name: (type_constructor) @name) @definition.type

(exception_definition
  (constructor_declaration
    (constructor_name) @name)) @definition.class

(class_binding
  (class_name) @name) @definition.class

(method_definition
  (method_name) @name) @definition.method
