/**
 * Imported first by local/main.ts, before any module builds an SDK client or a Powertools
 * instance at module scope: those read these variables when they are built.
 */
// The Lambdas run Node 22; the SDK's warning about the local Node is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
// No CloudWatch here: EMF documents would only clutter the console.
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
