; Atlas query for OCaml implementations (.ml), after ocaml_interface.scm (modules, module types, `val`s,
; externals, types, exceptions: an implementation holds all an interface declares).
; Captures: @definition.<kind> on a whole definition, @name on its name. Only a file's or a module's own `let`s
; are definitions (a `let ... in` inside a function is not); a `let` with parameters or a `fun` is a function.

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

(class_binding
  (class_name) @name) @definition.class

(method_definition
  (method_name) @name) @definition.method
