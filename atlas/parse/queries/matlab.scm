; Atlas query for MATLAB: definitions.
; Captures: @definition.<kind> on a whole definition, @name on its name.

(class_definition
  name: (identifier) @name) @definition.class

(function_definition
  name: (identifier) @name) @definition.function

(methods
  (function_definition
    name: (identifier) @name) @definition.method)
