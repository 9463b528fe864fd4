; Atlas query for Zig: definitions.
; Captures: @definition.<kind> on a whole definition, @name on its name. A type is a constant holding a
; container (`const Server = struct { ... };`); functions inside a container are its methods.

(Decl
  (FnProto
    function: (IDENTIFIER) @name)) @definition.function

(ContainerDecl
  (Decl
    (FnProto
      function: (IDENTIFIER) @name)) @definition.method)

(Decl
  (VarDecl
    variable_type_function: (IDENTIFIER) @name
    (ErrorUnionExpr
      (SuffixExpr
        (ContainerDecl))))) @definition.struct

; Builtin calls with a string argument; symbols.py keeps `@import("x.zig")`.
(SuffixExpr
  (BUILTINIDENTIFIER)
  (FnCallArguments)) @import
