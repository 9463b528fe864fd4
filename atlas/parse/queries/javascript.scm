; Atlas query for JavaScript (.js, .jsx, .mjs, .cjs): definitions and imports.
; Captures: @definition.<kind> on a whole definition, @name on its name, @import on a string node
; holding a module specifier.

(class_declaration
  name: (identifier) @name) @definition.class

(class
  name: (identifier) @name) @definition.class

(function_declaration
  name: (identifier) @name) @definition.function

(generator_function_declaration
  name: (identifier) @name) @definition.function

; Methods of classes and object literals.
(method_definition
  name: [(property_identifier) (private_property_identifier)] @name) @definition.method

; `const f = () => {}` and `const f = function () {}` anywhere.
(variable_declarator
  name: (identifier) @name
  value: [(arrow_function) (function_expression) (generator_function)]) @definition.function

; Top-level bindings, exported or not; UPPER_CASE names become constants in symbols.py.
(program
  [(lexical_declaration (variable_declarator name: (identifier) @name) @definition.variable)
   (variable_declaration (variable_declarator name: (identifier) @name) @definition.variable)])

(program
  (export_statement
    declaration: [(lexical_declaration (variable_declarator name: (identifier) @name) @definition.variable)
                  (variable_declaration (variable_declarator name: (identifier) @name) @definition.variable)]))

(import_statement
  source: (string) @import)

(export_statement
  source: (string) @import)

; `require("x")`: symbols.py keeps only calls whose callee is `require` (no text predicates in
; these queries: they crash py-tree-sitter on trees parsed through a read callback).
(call_expression
  function: (identifier)
  arguments: (arguments . (string) .)) @import

(call_expression
  function: (import)
  arguments: (arguments . (string) @import))

; Class fields holding functions: `handle = () => {}`.
(field_definition
  property: [(property_identifier) (private_property_identifier)] @name
  value: [(arrow_function) (function_expression)]) @definition.method

; CommonJS and prototype style: `exports.f = function () {}`, `Foo.prototype.bar = () => {}`.
(assignment_expression
  left: (member_expression
    property: (property_identifier) @name)
  right: [(arrow_function) (function_expression)]) @definition.function
