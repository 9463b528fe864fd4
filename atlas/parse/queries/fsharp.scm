; Atlas query for F#: definitions.
; Captures: @definition.<kind> on a whole definition, @name on its name. Only the `let`s of a module or file are
; definitions (a `let` inside a function is a local); a member's name is the last part of `this.Name`.
; No imports: `open` names a namespace or module, and the project file, not the path, orders them.

(named_module
  name: (long_identifier) @name) @definition.module

(namespace
  name: (long_identifier) @name) @definition.module

(module_defn
  (identifier) @name) @definition.module

(type_definition
  (anon_type_defn
    (type_name
      type_name: (identifier) @name))) @definition.class

(type_definition
  (record_type_defn
    (type_name
      type_name: (identifier) @name))) @definition.struct

(type_definition
  (union_type_defn
    (type_name
      type_name: (identifier) @name))) @definition.type

(type_definition
  (enum_type_defn
    (type_name
      type_name: (identifier) @name))) @definition.enum

(type_definition
  (interface_type_defn
    (type_name
      type_name: (identifier) @name))) @definition.interface

(type_definition
  (type_abbrev_defn
    (type_name
      type_name: (identifier) @name))) @definition.type

(type_definition
  (delegate_type_defn
    (type_name
      type_name: (identifier) @name))) @definition.type

(exception_definition
  exception_name: (long_identifier) @name) @definition.class

(member_defn
  (method_or_prop_defn
    name: (property_or_ident
      (identifier) @name .))) @definition.method

(named_module
  (declaration_expression
    (function_or_value_defn
      (function_declaration_left
        (identifier) @name))) @definition.function)

(module_defn
  (declaration_expression
    (function_or_value_defn
      (function_declaration_left
        (identifier) @name))) @definition.function)

(file
  (declaration_expression
    (function_or_value_defn
      (function_declaration_left
        (identifier) @name))) @definition.function)

(named_module
  (declaration_expression
    (function_or_value_defn
      (value_declaration_left
        (identifier_pattern
          (long_identifier_or_op
            (identifier) @name))))) @definition.variable)

(module_defn
  (declaration_expression
    (function_or_value_defn
      (value_declaration_left
        (identifier_pattern
          (long_identifier_or_op
            (identifier) @name))))) @definition.variable)
