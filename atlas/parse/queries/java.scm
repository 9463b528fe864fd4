; Atlas query for Java: definitions and imports.
; Captures: @definition.<kind> on a whole definition, @name on its name, @import on an import
; declaration (symbols.py handles static and wildcard imports).

(class_declaration
  name: (identifier) @name) @definition.class

(record_declaration
  name: (identifier) @name) @definition.class

(interface_declaration
  name: (identifier) @name) @definition.interface

(annotation_type_declaration
  name: (identifier) @name) @definition.interface

(enum_declaration
  name: (identifier) @name) @definition.enum

(method_declaration
  name: (identifier) @name) @definition.method

(constructor_declaration
  name: (identifier) @name) @definition.method

(compact_constructor_declaration
  name: (identifier) @name) @definition.method

; `static final` fields are constants.
(field_declaration
  (modifiers "static" "final")
  declarator: (variable_declarator
    name: (identifier) @name)) @definition.constant

(import_declaration) @import

; Type names the file uses, and classes it calls or reads statically (`Util.parse(x)`, `Mode.FAST`): a class
; of the file's own package needs no import (symbols.py keeps the capitalised ones).
(type_identifier) @reference

(method_invocation
  object: (identifier) @reference)

(field_access
  object: (identifier) @reference)
