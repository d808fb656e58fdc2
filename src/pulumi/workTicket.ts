import * as pulumi from "@pulumi/pulumi";
import { dynamicProvider, implementedBy, TYPE_MODULE, withFormerTypeToken } from "./dynamicProvider";

/**
 * Marks "this update builds on the runner": replaced in every update that does, and
 * unchanged in every other. The runner's InstanceState is replaced with it, and creating an
 * InstanceState starts a stopped instance; an unchanged one would not, since its recorded
 * state ("running") still matches the program after the runner stopped itself.
 */
export class WorkTicket extends pulumi.dynamic.Resource {
    constructor(name: string, args: { runner: string; builds: string[] }, opts?: pulumi.CustomResourceOptions) {
        super(
            dynamicProvider(),
            name,
            implementedBy("WorkTicket", args),
            withFormerTypeToken("WorkTicket", opts),
            TYPE_MODULE,
            "WorkTicket",
        );
    }
}
