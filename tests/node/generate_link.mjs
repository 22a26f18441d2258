// The official WorkOS Node SDK generating an Admin Portal link against a live server.
// Usage: node generate_link.mjs <base url> <organization> <intent> [return url]
// Prints the SDK's result as JSON; an SDK error goes to stderr with exit status 1.
import { WorkOS } from "@workos-inc/node";

const [baseUrl, organization, intent, returnUrl] = process.argv.slice(2);
const url = new URL(baseUrl);
const workos = new WorkOS(process.env.WORKOS_API_KEY, {
  apiHostname: url.hostname,
  port: Number(url.port),
  https: url.protocol === "https:",
});

try {
  const result = await workos.portal.generateLink({ organization, intent, returnUrl });
  console.log(JSON.stringify(result));
} catch (error) {
  console.error(JSON.stringify({ name: error.name, status: error.status, message: error.message }));
  process.exit(1);
}
