import { randomUUID } from "crypto";
import * as pulumi from "@pulumi/pulumi";

/** The WorkTicket provider: a new id whenever the builds change (WorkTicket says why). */
export const workTicketImplementation: pulumi.dynamic.ResourceProvider = {
    async diff(_id: string, _olds: Record<string, unknown>, news: Record<string, unknown>) {
        const building = Array.isArray(news.builds) && news.builds.length > 0;
        return building ? { changes: true, replaces: ["builds"], deleteBeforeReplace: false } : { changes: false };
    },
    async create(inputs: Record<string, unknown>) {
        return { id: randomUUID(), outs: inputs };
    },
};
