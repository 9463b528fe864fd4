; Atlas query for Swift: definitions and imports.
; Captures: @definition.<kind> on a whole definition, @name on its name, @import on the imported
; module path.

(class_declaration
  "class"
  name: (type_identifier) @name) @definition.class

(class_declaration
  "actor"
  name: (type_identifier) @name) @definition.class

(class_declaration
  "struct"
  name: (type_identifier) @name) @definition.struct

(class_declaration
  "enum"
  name: (type_identifier) @name) @definition.enum

(protocol_declaration
  name: (type_identifier) @name) @definition.interface

(typealias_declaration
  name: (type_identifier) @name) @definition.type

(function_declaration
  name: (simple_identifier) @name) @definition.function

; Functions in a type, extension or protocol body.
(class_body
  (function_declaration
    name: (simple_identifier) @name) @definition.method)

(class_body
  (init_declaration
    "init" @name) @definition.method)

(enum_class_body
  (function_declaration
    name: (simple_identifier) @name) @definition.method)

(protocol_body
  (protocol_function_declaration
    name: (simple_identifier) @name) @definition.method)

; Top-level `let`/`var`.
(source_file
  (property_declaration
    name: (pattern
      bound_identifier: (simple_identifier) @name)) @definition.variable)

(import_declaration
  (identifier) @import)

; Type names the file uses (a declared type, a base type, `T(...)`, `T.member`): a module's files see each other's
; types without an import; symbols.py keeps the capitalised ones, and the resolver links each to the file named
; after it.
(user_type
  (type_identifier) @reference)
(call_expression
  (simple_identifier) @reference)
(navigation_expression
  target: (simple_identifier) @reference)
