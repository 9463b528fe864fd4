; Atlas query for GraphQL: definitions (a schema's types, a client's operations and fragments).
; Captures: @definition.<kind> on a whole definition, @name on its name. An object type's fields are its methods:
; a resolver implements each. Extensions (`extend type Query`) add fields to a type defined elsewhere.

(object_type_definition
  (name) @name) @definition.class

(object_type_extension
  (name) @name) @definition.class

(interface_type_definition
  (name) @name) @definition.interface

(enum_type_definition
  (name) @name) @definition.enum

(input_object_type_definition
  (name) @name) @definition.struct

(scalar_type_definition
  (name) @name) @definition.type

(union_type_definition
  (name) @name) @definition.type

(directive_definition
  (name) @name) @definition.function

(fragment_definition
  (fragment_name) @name) @definition.function

(operation_definition
  (name) @name) @definition.function

(object_type_definition
  (fields_definition
    (field_definition
      (name) @name) @definition.method))

(object_type_extension
  (fields_definition
    (field_definition
      (name) @name) @definition.method))
