; Atlas query for Python: definitions and imports.
; Captures: @definition.<kind> on a whole definition, @name on its name, @import on an import
; statement (symbols.py expands each statement into dotted import strings).

(class_definition
  name: (identifier) @name) @definition.class

(function_definition
  name: (identifier) @name) @definition.function

; A def directly in a class body, with or without decorators, is a method.
(class_definition
  body: (block
    (function_definition
      name: (identifier) @name) @definition.method))

(class_definition
  body: (block
    (decorated_definition
      definition: (function_definition
        name: (identifier) @name)) @definition.method))

; Decorated definitions span their decorators.
(decorated_definition
  definition: (function_definition
    name: (identifier) @name)) @definition.function

(decorated_definition
  definition: (class_definition
    name: (identifier) @name)) @definition.class

; Module-level assignments; UPPER_CASE names become constants in symbols.py.
(module
  (assignment
    left: (identifier) @name) @definition.variable)

(import_statement) @import
(import_from_statement) @import
