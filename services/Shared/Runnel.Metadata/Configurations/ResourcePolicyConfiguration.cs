using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Runnel.Metadata.Entities;

namespace Runnel.Metadata.Configurations;

internal sealed class ResourcePolicyConfiguration : IEntityTypeConfiguration<ResourcePolicyEntity>
{
    public void Configure(EntityTypeBuilder<ResourcePolicyEntity> b)
    {
        b.ToTable("resource_policies");
        b.HasKey(p => p.ResourceArn);
        b.Property(p => p.ResourceArn).HasMaxLength(2048);
        b.Property(p => p.Document).HasMaxLength(ResourcePolicyLimits.MaxDocumentLength);
        b.HasOne<StreamEntity>().WithMany().HasForeignKey(p => p.StreamId).OnDelete(DeleteBehavior.Cascade);
        b.HasOne<StreamConsumerEntity>().WithMany().HasForeignKey(p => p.ConsumerId).OnDelete(DeleteBehavior.Cascade);
    }
}

public static class ResourcePolicyLimits
{
    /// <summary>Characters of one policy document: IAM's limit for a resource-based policy (20 KiB).</summary>
    public const int MaxDocumentLength = 20_480;
}
