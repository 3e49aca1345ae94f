// The config codes live with every other code in src/gateway/errors.ts.
export { CODES } from '../errors.js'
