; Atlas query for PHP: definitions and imports.
; Captures: @definition.<kind> on a whole definition, @name on its name, @import on a `use` declaration
; (symbols.py expands groups and drops aliases) or on the string path of require/include.

(class_declaration
  name: (name) @name) @definition.class

(interface_declaration
  name: (name) @name) @definition.interface

(trait_declaration
  name: (name) @name) @definition.trait

(enum_declaration
  name: (name) @name) @definition.enum

(function_definition
  name: (name) @name) @definition.function

(method_declaration
  name: (name) @name) @definition.method

(namespace_definition
  name: (namespace_name) @name) @definition.module

(const_declaration
  (const_element
    (name) @name) @definition.constant)

(namespace_use_declaration) @import

(require_expression [(string) (encapsed_string)] @import)
(require_expression (parenthesized_expression [(string) (encapsed_string)] @import))

(require_once_expression [(string) (encapsed_string)] @import)
(require_once_expression (parenthesized_expression [(string) (encapsed_string)] @import))

(include_expression [(string) (encapsed_string)] @import)
(include_expression (parenthesized_expression [(string) (encapsed_string)] @import))

(include_once_expression [(string) (encapsed_string)] @import)
(include_once_expression (parenthesized_expression [(string) (encapsed_string)] @import))
