; Atlas query for Protocol Buffers: definitions and imports.
; Captures: @definition.<kind> on a whole definition, @name on its name, @import on an imported file's path.
; A message is a struct, a service an interface and its rpcs the interface's methods.

(message
  (message_name
    (identifier) @name)) @definition.struct

(enum
  (enum_name
    (identifier) @name)) @definition.enum

(service
  (service_name
    (identifier) @name)) @definition.interface

(rpc
  (rpc_name
    (identifier) @name)) @definition.method

(import
  path: (string) @import)
