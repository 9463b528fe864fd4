; Atlas query for Haskell: definitions.
; Captures: @definition.<kind> on a whole definition, @name on its name. A function written as several
; equations (and its type signature) is one node per equation; symbols.py joins consecutive ones of one name.

(data_type
  name: (name) @name) @definition.type

(newtype
  name: (name) @name) @definition.type

(type_synomym
  name: (name) @name) @definition.type

(type_family
  name: (name) @name) @definition.type

(class
  name: (name) @name) @definition.class

(declarations
  (signature
    name: (variable) @name) @definition.function)

(declarations
  (function
    name: (variable) @name) @definition.function)

(declarations
  (bind
    name: (variable) @name) @definition.variable)

(class_declarations
  (signature
    name: (variable) @name) @definition.method)

; `import qualified Data.Map as M` → Data.Map
(import
  module: (module) @import)
