// Publishes a notification for a processed order.
function main(params) {
  const order = params.order || {};
  return { topic: params.ORDERS_TOPIC, key: String(order.id), value: order };
}
