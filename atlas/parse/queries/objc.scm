; Atlas query for Objective-C, after c.scm (functions, structs, enums, typedefs, variables, macros and
; `#include`/`#import`, which the Objective-C grammar parses as C's).
; Captures: @definition.<kind> on a whole definition, @name on its name. A method is named by its selector's
; first part (`initWithNamespace:diskCacheDirectory:` → initWithNamespace).

(class_interface
  . (identifier) @name) @definition.class

(class_implementation
  . (identifier) @name) @definition.class

(protocol_declaration
  . (identifier) @name) @definition.interface

(method_definition
  (method_type)
  . (identifier) @name) @definition.method

(method_declaration
  (method_type)
  . (identifier) @name) @definition.method
