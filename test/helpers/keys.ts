/**
 * A stored key without its database scope: `{oc:#<scope>:posts}:gen` → `{oc:posts}:gen`. For tests that check
 * which keys a call touched; the tenant tests check the scope itself.
 */
export function unscoped(key: string): string {
  return key.replace(/\{([^:{}]*):[=#][A-Za-z0-9_.-]*:/, '{$1:');
}
