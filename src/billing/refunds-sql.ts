/**
 * The billing service's rule for what a refund undoes, as a CTE other services' reports start
 * from: refunds summed per conversion, a refunded charge counted against the invoice it paid
 * (`stripe:invoice:<id>`, the conversion an `invoice.paid` records) when the charge was an
 * invoice's. Attribution and the anomaly series must net revenue the same way.
 */
export const REFUNDS_CTE = `refunds as (
    select coalesce('stripe:invoice:' || ci.invoice_id, r.conversion_id) as conversion_id,
           sum(r.refunded_minor)::bigint as refunded
    from billing_refunds r left join billing_charge_invoices ci on ci.charge_id = r.charge_id
    group by 1
  )`;
