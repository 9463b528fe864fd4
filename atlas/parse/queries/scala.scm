; Atlas query for Scala (2 and 3): definitions and imports.
; Captures: @definition.<kind> on a whole definition, @name on its name, @import on an import
; declaration (symbols.py expands selectors and writes wildcards as `.*`).

(class_definition
  name: (identifier) @name) @definition.class

(object_definition
  name: (identifier) @name) @definition.class

(trait_definition
  name: (identifier) @name) @definition.trait

(enum_definition
  name: (identifier) @name) @definition.enum

(type_definition
  name: (type_identifier) @name) @definition.type

(function_definition
  name: (identifier) @name) @definition.function

(function_declaration
  name: (identifier) @name) @definition.function

; Defs in a class, object or trait body.
(template_body
  [(function_definition name: (identifier) @name)
   (function_declaration name: (identifier) @name)] @definition.method)

; Top-level and object-level `val`s (UPPER_CASE ones become constants).
(compilation_unit
  (val_definition
    pattern: (identifier) @name) @definition.variable)

(object_definition
  body: (template_body
    (val_definition
      pattern: (identifier) @name) @definition.variable))

(import_declaration) @import
