; Atlas query for Kotlin: definitions and imports.
; Captures: @definition.<kind> on a whole definition, @name on its name, @import on an import header
; (symbols.py drops aliases and keeps `.*`).

(class_declaration
  (type_identifier) @name) @definition.class

(class_declaration
  "interface"
  (type_identifier) @name) @definition.interface

(class_declaration
  (type_identifier) @name
  (enum_class_body)) @definition.enum

(object_declaration
  (type_identifier) @name) @definition.class

(type_alias
  (type_identifier) @name) @definition.type

(function_declaration
  (simple_identifier) @name) @definition.function

; Functions in a class, interface or object body (companion objects included).
(class_body
  (function_declaration
    (simple_identifier) @name) @definition.method)

(enum_class_body
  (function_declaration
    (simple_identifier) @name) @definition.method)

; Top-level properties; `const val` (the only property_modifier) and UPPER_CASE names are constants.
(source_file
  (property_declaration
    (modifiers (property_modifier))
    (variable_declaration
      (simple_identifier) @name)) @definition.constant)

(source_file
  (property_declaration
    (variable_declaration
      (simple_identifier) @name)) @definition.variable)

(import_header) @import

; Type names the file uses, constructors it calls (`Cart()`) and objects it reads (`Mode.FAST`): a class of
; the file's own package needs no import (symbols.py keeps the capitalised ones).
(user_type
  (type_identifier) @reference)

(call_expression
  (simple_identifier) @reference)

(navigation_expression
  (simple_identifier) @reference)
